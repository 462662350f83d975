package alert

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// guessFrom is 31 failed guesses in 31 seconds from ip: over
// token-guessing-source's 30 a minute.
func guessFrom(start time.Time, ip string) []collector.StoredRecord {
	return every(start, time.Second, 31, failed("guess0000"), from(ip))
}

// foldedOf returns the folded alerts and the others of rule.
func foldedOf(r *rig, rule string) (folded, single []Alert) {
	for _, a := range r.alerts(rule) {
		if a.Folded > 0 {
			folded = append(folded, a)
		} else {
			single = append(single, a)
		}
	}
	return folded, single
}

// TestSourceStormFolds: a guesser on 150 addresses, each over
// token-guessing-source's threshold, opens 100 alerts (each a ticket per
// sink), and the 50 after them fold into one alert that counts them and is
// ticketed once: not 150 tickets, nor 150 alerts kept in memory until a
// person closes each. A folded source's later guesses grow the folded
// alert instead of firing again; a full replay and a restore from a
// snapshot hold the live state.
func TestSourceStormFolds(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.snap = true
	r.restart()
	ip := func(i int) string { return fmt.Sprintf("198.51.%d.%d", 100+i/200, 1+i%200) }
	for i := range 150 {
		r.send(guessFrom(t0.Add(time.Duration(i)*time.Millisecond), ip(i))...)
	}
	folded, single := foldedOf(r, "token-guessing-source")
	if len(single) != maxOpenPerRule || len(folded) != 1 {
		t.Fatalf("%d alerts and %d folded, want %d and 1", len(single), len(folded), maxOpenPerRule)
	}
	f := folded[0]
	if f.Folded != 50 || f.Key != foldKey || f.Count < 50*30 || f.Status != StatusOpen {
		t.Errorf("folded alert: folded %d, key %q, count %d, status %s; want 50, %q, at least 1500, open", f.Folded, f.Key, f.Count, f.Status, foldKey)
	}
	if len(f.FoldedKeys) != maxFoldedKeys || f.FoldedKeys[0] != ip(100) {
		t.Errorf("folded keys %v, want the first %d folded sources from %s", f.FoldedKeys, maxFoldedKeys, ip(100))
	}
	if len(r.opens) != maxOpenPerRule+1 {
		t.Errorf("OnOpen called %d times, want %d (one ticket per alert, the folded one once)", len(r.opens), maxOpenPerRule+1)
	}

	// A folded source guessing on grows the folded alert; it does not fire again.
	r.send(every(t0.Add(2*time.Minute), 100*time.Millisecond, 10, failed("guess0000"), from(ip(120)))...) // a window on: an alert.update
	folded, single = foldedOf(r, "token-guessing-source")
	if len(folded) != 1 || len(single) != maxOpenPerRule || folded[0].Folded != 50 || folded[0].Count != f.Count+10 {
		t.Errorf("after 10 more guesses of a folded source: %d folded alerts (folded %d, count %d), %d others; want 1 (50, %d), %d",
			len(folded), folded[0].Folded, folded[0].Count, len(single), f.Count+10, maxOpenPerRule)
	}
	if err := r.eng.WriteSnapshot(t0); err != nil {
		t.Fatal(err)
	}
	r.send(guessFrom(t0.Add(125*time.Second), "203.0.113.77")...) // after the snapshot: folded too
	live, livePos := stateOf(t, r.eng)
	r.restart()
	restored, pos := stateOf(t, r.eng)
	if r.stats.Snapshot == 0 || pos != livePos || !bytes.Equal(restored, live) {
		t.Errorf("restored from the snapshot (%+v): state at seq %d differs from the live one at %d:\n got %s\nwant %s", r.stats, pos, livePos, clipped(restored), clipped(live))
	}
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
	if full, fullPos := fullReplay(t, r); fullPos != livePos || !bytes.Equal(full, live) {
		t.Errorf("full replay: state at seq %d differs from the live one at %d:\n got %s\nwant %s", fullPos, livePos, clipped(full), clipped(live))
	}
	r.open()
	if folded, _ = foldedOf(r, "token-guessing-source"); len(folded) != 1 || folded[0].Folded != 51 {
		t.Fatalf("after the restart: %+v, want one folded alert of 51 sources", folded)
	}
	if u := r.trailEvents(ActionUpdate); len(u) == 0 || !strings.Contains(string(u[len(u)-1].Details), `"folded":"`) {
		t.Errorf("alert.update events %v: want the folded alert's, naming how many it folds", u)
	}
}

// TestClosingMakesRoomAndRefolds: closing one of the full rule's alerts
// makes room for the next source that fires; closing the folded alert
// unlinks its sources, and one that fires again opens a new folded alert
// naming the closed one.
func TestClosingMakesRoomAndRefolds(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	for i := range maxOpenPerRule + 2 {
		r.send(guessFrom(t0.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("10.9.%d.%d", i/250, i%250+1))...)
	}
	folded, single := foldedOf(r, "token-guessing-source")
	if len(folded) != 1 || folded[0].Folded != 2 {
		t.Fatalf("%d folded alerts %+v, want one of 2 sources", len(folded), folded)
	}
	at := t0.Add(2 * time.Minute)
	r.event(lifecycle(at, ActionClose, single[0].ID, "alice", "blocked at the edge", nil))
	r.send(guessFrom(at, "192.0.2.200")...)
	if _, single = foldedOf(r, "token-guessing-source"); !hasKey(single, "192.0.2.200") {
		t.Errorf("with an alert closed, a new source folded: want an alert of its own")
	}
	r.send(guessFrom(at.Add(time.Second), "192.0.2.201")...) // full again: folded
	if folded, _ = foldedOf(r, "token-guessing-source"); folded[0].Folded != 3 {
		t.Errorf("folded %d, want 3 once the rule is full again", folded[0].Folded)
	}

	old := folded[0].ID
	r.event(lifecycle(at.Add(time.Minute), ActionClose, old, "alice", "blocked the range", nil))
	r.send(guessFrom(at.Add(2*time.Minute), "192.0.2.201")...) // a source the closed alert folded
	folded, _ = foldedOf(r, "token-guessing-source")
	var refold *Alert
	for i := range folded {
		if folded[i].Status != StatusClosed {
			refold = &folded[i]
		}
	}
	if len(folded) != 2 || refold == nil || refold.Previous != old || refold.Folded != 1 || refold.FoldedKeys[0] != "192.0.2.201" {
		t.Errorf("after closing the folded alert: %+v, want a new one folding 192.0.2.201 whose previous is %s", folded, old)
	}
}

// TestAlertmanagerFingerprintsFold: an Alertmanager token holder sending
// 150 fingerprints over two alert names opens 100 alerts and one folded
// alert, not 150 tickets; a repeat of a folded fingerprint grows it.
func TestAlertmanagerFingerprintsFold(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	body := func(name string, fp int) []byte {
		return []byte(fmt.Sprintf(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":%q,"severity":"warning"},"fingerprint":"fp%04d"}]}`, name, fp))
	}
	for i := range 150 {
		name := "Noisy"
		if i%2 == 1 {
			name = "Loud"
		}
		if _, err := r.eng.Alertmanager(body(name, i), t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.eng.Alertmanager(body("Noisy", 140), t0.Add(10*time.Minute)); err != nil { // folded already
		t.Fatal(err)
	}
	var folded []Alert
	n := 0
	for _, a := range r.eng.Alerts() {
		if a.Folded > 0 {
			folded = append(folded, a)
		} else {
			n++
		}
	}
	if n != maxOpenPerRule || len(folded) != 1 || folded[0].Folded != 50 || folded[0].Count != 51 {
		t.Fatalf("%d alerts, folded %+v; want %d and one folding 50 fingerprints with count 51", n, folded, maxOpenPerRule)
	}
	if len(r.opens) != maxOpenPerRule+1 {
		t.Errorf("OnOpen called %d times, want %d", len(r.opens), maxOpenPerRule+1)
	}
}

// TestFoldedAlertText: an operator and a ticket read how many groups the
// alert folds and which came first, and the ticket's title says it is
// folded rather than naming a source "*".
func TestFoldedAlertText(t *testing.T) {
	t.Parallel()
	a := &Alert{ID: "alert-x", Rule: "token-guessing-source", Kind: KindAuthFailures, Severity: "high", Group: "source", Key: foldKey,
		Status: StatusOpen, Folded: 7, FoldedKeys: []string{"198.51.100.1", "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"}}
	var b strings.Builder
	if err := WriteText(&b, a); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "folded    7 source groups past the rule's 100 open alerts, the first: 198.51.100.1 ") {
		t.Errorf("text:\n%s\nwant a folded line", b.String())
	}
	body, err := (&Sink{Name: "j", Kind: "jira", Project: "SEC"}).payload(a)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(body); !strings.Contains(s, "source groups past 100 open alerts, folded") || strings.Contains(s, "DemoAcmeHrisSecret") {
		t.Errorf("jira payload %s: want a folded title and no key secret", s)
	}
}

// TestAlertmanagerCriticalNotFoldedUnderMedium: with 100 warnings
// (medium) open and one folded, a critical Alertmanager alert is an alert
// of its own, ticketed as critical: one family for every severity folded
// it into the medium folded alert. Criticals past 100 fold into a
// critical folded alert.
func TestAlertmanagerCriticalNotFoldedUnderMedium(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	fire := func(name, sev string, fp int, at time.Time) {
		t.Helper()
		body := fmt.Sprintf(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":%q,"severity":%q},"fingerprint":"fp%04d"}]}`, name, sev, fp)
		if _, err := r.eng.Alertmanager([]byte(body), at); err != nil {
			t.Fatal(err)
		}
	}
	for i := range maxOpenPerRule + 5 {
		fire("Noisy", "warning", i, t0.Add(time.Duration(i)*time.Second))
	}
	fire("DiskFull", "critical", 9000, t0.Add(time.Hour))
	var crit []Alert
	for _, a := range r.eng.Alerts() {
		if a.Severity == "critical" {
			crit = append(crit, a)
		}
	}
	if len(crit) != 1 || crit[0].Folded != 0 || crit[0].Key != "fp9000" {
		t.Fatalf("critical alerts %+v, want one of its own for fp9000", crit)
	}
	if last := r.opens[len(r.opens)-1]; last.Severity != "critical" || last.Key != "fp9000" {
		t.Errorf("the last ticket opened is %s %s, want the critical fp9000", last.Severity, last.Key)
	}
	for i := range maxOpenPerRule {
		fire("DiskFull", "critical", 9001+i, t0.Add(2*time.Hour+time.Duration(i)*time.Second))
	}
	folds := map[string]int64{}
	for _, a := range r.eng.Alerts() {
		if a.Folded > 0 {
			folds[a.Severity] = a.Folded
		}
	}
	if len(folds) != 2 || folds["medium"] != 5 || folds["critical"] != 1 {
		t.Errorf("folded alerts by severity %v, want medium folding 5 and critical folding 1", folds)
	}
}

// TestRuleRegroupedOpensItsOwnAlerts: a rule kept by name that groups by
// client now, by source before, opens its own alert for a client: a
// sender that wrote "acme-hris" as a source had an alert of that key open,
// and once the rule grouped by client, acme-hris's guesses grew that
// source alert, and the client's own alert, whose action suspends it,
// never opened.
func TestRuleRegroupedOpensItsOwnAlerts(t *testing.T) {
	t.Parallel()
	bySource := examplePolicy(t)
	byClient := examplePolicy(t)
	for i := range bySource.Detection {
		if d := &bySource.Detection[i]; d.Name == "token-guessing-client" {
			d.GroupBy, d.Action, d.Suspend = "source", "", ""
		}
	}
	r := newRig(t, bySource)
	r.send(guessFrom(t0, "acme-hris")...) // a sender writes any source
	if a := wantAlerts(t, r, "token-guessing-client", 1)[0]; a.Group != "source" || a.Key != "acme-hris" {
		t.Fatalf("under the source rule: alert %s %s, want source acme-hris", a.Group, a.Key)
	}
	if err := r.eng.SetPolicy(byClient, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	r.send(every(t0.Add(2*time.Minute), time.Second, 25, failed("acmehris1"))...)
	var client *Alert
	for _, a := range r.alerts("token-guessing-client") {
		if a.Group == "client" {
			client = &a
		}
	}
	if client == nil || client.Key != "acme-hris" || client.RuleAction != "notify" || client.Count < 20 {
		t.Fatalf("after the rule grouped by client: %+v, want an alert of client acme-hris, action notify", r.alerts("token-guessing-client"))
	}
	// A restart replays the trail under the policy as it is now: the
	// source alert's alert.open must not link it to the client's group.
	before := map[string]int64{}
	for _, a := range r.alerts("token-guessing-client") {
		before[a.ID] = a.Count
	}
	r.doc = byClient
	r.restart()
	for _, a := range r.alerts("token-guessing-client") {
		// The source alert's growth after its opening was counted by the
		// rule as it was, which a replay under the policy as it is now
		// cannot count again: only the client alert's count is checked.
		if a.Group == "client" && a.Count != before[a.ID] {
			t.Errorf("after a restart alert %s (%s %s) counts %d, live %d", a.ID, a.Group, a.Key, a.Count, before[a.ID])
		}
	}
	r.send(every(t0.Add(3*time.Minute), time.Second, 5, failed("acmehris1"))...)
	for _, a := range r.alerts("token-guessing-client") {
		switch {
		case a.Group == "source" && a.LastSeen.After(t0.Add(3*time.Minute)):
			t.Errorf("after a restart the source alert grew from client acme-hris's guesses: %+v", a)
		case a.Group == "client" && a.LastSeen.Before(t0.Add(3*time.Minute)):
			t.Errorf("after a restart the client alert did not grow: %+v", a)
		}
	}
}
