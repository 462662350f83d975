package alert

import (
	"fmt"
	"testing"
	"time"
)

// TestFoldNotForgedThroughEtcd: the engine writes the events that fold
// in the trail itself; etcd carries a person's (ack, contain, close). An
// event borne by etcd naming a folded alert's fields folds nothing: it
// cannot swap the sources the folded alert names for others with no line
// of history, or open a folded alert of its own, never ticketed, that the
// next sources would fold into.
func TestFoldNotForgedThroughEtcd(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	fillSources(r, maxOpenPerRule)
	at := t0.Add(5 * time.Minute)
	r.send(guessFrom(at, "192.0.2.9")...)
	real := foldedAlert(t, r.eng.Alerts())

	r.event(lifecycle(at.Add(time.Second), ActionUpdate, real.ID, "mallory", "", map[string]string{
		"folded": "1000", "folded_keys": `["203.0.113.1","203.0.113.2"]`, "count": "999999"}))
	forged := Alert{ID: "alert-forged-fold", Rule: real.Rule, Kind: real.Kind, Severity: "low", Group: "source", Key: foldKey, Opened: at, Count: 1}
	d := forged.openDetails()
	d["folded"], d["folded_keys"] = "1", `["203.0.113.3"]`
	r.event(lifecycle(at.Add(2*time.Second), ActionOpen, forged.ID, "mallory", "", d))
	r.send(guessFrom(at.Add(3*time.Second), "192.0.2.10")...)

	got, ok := r.eng.Alert(real.ID)
	if !ok || got.Folded != 2 || fmt.Sprint(got.FoldedKeys) != "[192.0.2.9 192.0.2.10]" {
		t.Errorf("the folded alert after etcd-borne alert.update and alert.open: folded %d, keys %v; want 2, [192.0.2.9 192.0.2.10]",
			got.Folded, got.FoldedKeys)
	}
	if f, ok := r.eng.Alert(forged.ID); ok && f.Folded != 0 {
		t.Errorf("an alert.open borne by etcd opened folded alert %s (folded %d)", forged.ID, f.Folded)
	}
}

// TestRuleNamedAlertmanagerNotInTheirFamily: a policy may name a
// source-grouped rule "alertmanager"; its alerts are its own family, not
// the Alertmanager alerts': a sender's 100 Alertmanager fingerprints do
// not fold a guesser of that rule into the Alertmanager folded alert.
func TestRuleNamedAlertmanagerNotInTheirFamily(t *testing.T) {
	t.Parallel()
	d := examplePolicy(t)
	for i := range d.Detection {
		if d.Detection[i].Name == "token-guessing-source" {
			d.Detection[i].Name = "alertmanager"
		}
	}
	r := newRig(t, d)
	for i := range maxOpenPerRule + 1 {
		if _, err := r.eng.Alertmanager(amFiring("Noisy", i), t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	r.send(guessFrom(t0.Add(time.Minute), "192.0.2.9")...)
	folded, single := foldedOf(r, "alertmanager")
	if len(single) != 1 || single[0].Key != "192.0.2.9" || len(folded) != 0 {
		t.Errorf("rule alertmanager: alerts %+v, folded %+v; want one alert of source 192.0.2.9", single, folded)
	}
}
