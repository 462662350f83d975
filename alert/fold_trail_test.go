package alert

import (
	"fmt"
	"testing"
	"time"
)

// amFiring is an Alertmanager webhook body firing alert name with
// fingerprint fp.
func amFiring(name string, fp int) []byte {
	return []byte(fmt.Sprintf(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":%q,"severity":"warning"},"fingerprint":"fp%04d"}]}`, name, fp))
}

// foldedAlert returns the one folded alert not closed among as.
func foldedAlert(t *testing.T, as []Alert) Alert {
	t.Helper()
	var out []Alert
	for _, a := range as {
		if a.Folded > 0 && a.Status != StatusClosed {
			out = append(out, a)
		}
	}
	if len(out) != 1 {
		t.Fatalf("folded alerts %+v, want one", out)
	}
	return out[0]
}

// TestAlertmanagerFoldReplayed: Alertmanager alerts are in the trail as
// their events only (no record replays them), so the fingerprints folded
// within a minute of the folded alert's alert.update are there too: after
// a restart the folded alert counts and names them as it did, a repeat of
// one grows it rather than folding it a second time, and the state is the
// live one.
func TestAlertmanagerFoldReplayed(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	for i := range maxOpenPerRule + 5 {
		if _, err := r.eng.Alertmanager(amFiring("Noisy", i), t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	live := foldedAlert(t, r.eng.Alerts())
	if live.Folded != 5 || len(live.FoldedKeys) != 5 {
		t.Fatalf("live: folded %d, keys %v; want 5 fingerprints", live.Folded, live.FoldedKeys)
	}
	checkReplay(t, r)
	r.restart()
	if got := foldedAlert(t, r.eng.Alerts()); got.Folded != 5 || fmt.Sprint(got.FoldedKeys) != fmt.Sprint(live.FoldedKeys) {
		t.Errorf("after a restart: folded %d, keys %v; want %d, %v", got.Folded, got.FoldedKeys, live.Folded, live.FoldedKeys)
	}
	if _, err := r.eng.Alertmanager(amFiring("Noisy", maxOpenPerRule+2), t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := foldedAlert(t, r.eng.Alerts()); got.Folded != 5 {
		t.Errorf("a folded fingerprint repeated after a restart: folded %d, want 5 (it grows the alert, it is not folded again)", got.Folded)
	}
}

// TestFoldedSourcesInTrail: every source folded is in the trail's alert
// events, which alerts list, the incident report and the evidence pack
// read (Load): sources folded within a minute of the folded alert's
// opening, the guessing then stopped, are not lost from it.
func TestFoldedSourcesInTrail(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	fillSources(r, maxOpenPerRule)
	for i := range 30 {
		r.send(guessFrom(t0.Add(5*time.Minute+time.Duration(i)*time.Millisecond), fmt.Sprintf("192.0.2.%d", i+1))...)
	}
	live := foldedAlert(t, r.eng.Alerts())
	if live.Folded != 30 {
		t.Fatalf("live: folded %d, want 30", live.Folded)
	}
	all, err := Load(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := foldedAlert(t, all); got.Folded != live.Folded || fmt.Sprint(got.FoldedKeys) != fmt.Sprint(live.FoldedKeys) {
		t.Errorf("the trail's folded alert: folded %d, keys %v; want the live %d, %v", got.Folded, got.FoldedKeys, live.Folded, live.FoldedKeys)
	}
}

// TestAlertmanagerRepeatReplayed: a repeated Alertmanager notification
// grows its alert, folded or not, and no record replays it: the count is
// in the trail, and a full replay holds the live state.
func TestAlertmanagerRepeatReplayed(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	for i := range maxOpenPerRule + 2 {
		if _, err := r.eng.Alertmanager(amFiring("Noisy", i), t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	for _, fp := range []int{0, maxOpenPerRule + 1, 0} { // an alert of its own, a folded one
		if _, err := r.eng.Alertmanager(amFiring("Noisy", fp), t0.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	counts := func() (own, folded int64) {
		for _, a := range r.eng.Alerts() {
			switch {
			case a.Folded > 0:
				folded = a.Count
			case a.Key == "fp0000":
				own = a.Count
			}
		}
		return own, folded
	}
	own, folded := counts()
	if own != 3 || folded != 3 {
		t.Fatalf("live: fp0000's count %d, the folded alert's %d; want 3 and 3", own, folded)
	}
	checkReplay(t, r)
	if own, folded = counts(); own != 3 || folded != 3 {
		t.Errorf("after a restart: fp0000's count %d, the folded alert's %d; want 3 and 3", own, folded)
	}
}
