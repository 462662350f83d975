package alert

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// fillSources opens maxOpenPerRule-1 token-guessing-source alerts, one a
// source, so that the next source that fires is the rule's last alert.
func fillSources(r *rig, n int) {
	r.t.Helper()
	for i := range n {
		r.send(guessFrom(t0.Add(time.Duration(i)*time.Millisecond), fmt.Sprintf("10.8.%d.%d", i/250, i%250+1))...)
	}
}

// checkReplay fails t when a full replay of r's trail is not the live state.
func checkReplay(t *testing.T, r *rig) {
	t.Helper()
	live, livePos := stateOf(t, r.eng)
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
	if full, pos := fullReplay(t, r); pos != livePos || !bytes.Equal(full, live) {
		t.Errorf("full replay: state at seq %d differs from the live one at %d:\n got %s\nwant %s", pos, livePos, firstDiff(full, live), firstDiff(live, full))
	}
	r.open()
}

// TestFoldBesideStarSource: a sender may write "*" as a record's source,
// the key of a folded alert. The rule's last alert, for source "*", and
// the folded alert the next source opens, both at the same instant (a
// sender picks its records' times), are two alerts: the folded one does
// not overwrite the other, and a replay holds both.
func TestFoldBesideStarSource(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	fillSources(r, maxOpenPerRule-1)
	at := t0.Add(5 * time.Minute)
	r.send(append(guessFrom(at, "*"), guessFrom(at, "192.0.2.9")...)...)
	folded, single := foldedOf(r, "token-guessing-source")
	if len(single) != maxOpenPerRule || !hasKey(single, "*") || len(folded) != 1 || folded[0].Folded != 1 || folded[0].FoldedKeys[0] != "192.0.2.9" {
		t.Errorf("%d alerts (source * among them: %t), folded %+v; want %d with source *, and one folding 192.0.2.9",
			len(single), hasKey(single, "*"), folded, maxOpenPerRule)
	}
	if len(r.opens) != maxOpenPerRule+1 {
		t.Errorf("OnOpen called %d times, want %d", len(r.opens), maxOpenPerRule+1)
	}
	checkReplay(t, r)
}

// TestRefoldAtClosedFoldsInstant: the folded alert closed, a source
// firing at the very instant it opened (a sender picks its records'
// times) opens a new folded alert: the closed one keeps its closure, and
// a replay holds both as the live engine does.
func TestRefoldAtClosedFoldsInstant(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	fillSources(r, maxOpenPerRule)
	at := t0.Add(5 * time.Minute)
	r.send(guessFrom(at, "192.0.2.9")...)
	folded, _ := foldedOf(r, "token-guessing-source")
	if len(folded) != 1 {
		t.Fatalf("folded %+v, want one", folded)
	}
	old := folded[0]
	r.event(lifecycle(at.Add(time.Minute), ActionClose, old.ID, "alice", "blocked", nil))
	r.send(guessFrom(at, "192.0.2.10")...) // fires at old.Opened again
	folded, _ = foldedOf(r, "token-guessing-source")
	var closed, open int
	for _, a := range folded {
		switch {
		case a.Status == StatusClosed && a.ID == old.ID:
			closed++
		case a.Status == StatusOpen && a.FoldedKeys[0] == "192.0.2.10" && a.Previous == old.ID:
			open++
		}
	}
	if len(folded) != 2 || closed != 1 || open != 1 {
		t.Errorf("folded alerts %+v; want %s closed and a new one folding 192.0.2.10", folded, old.ID)
	}
	checkReplay(t, r)
}

// firstDiff is a from a little before where it first differs from b.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return clipped(a[max(i-600, 0):min(i+100, len(a))])
}

// TestRestoredRefoldNamesLastClosedFold: two folded alerts opened at one
// instant (a sender picks its records' times), each closed in turn: the
// next folded alert names the one closed last as its previous, restored
// from a snapshot as live.
func TestRestoredRefoldNamesLastClosedFold(t *testing.T) {
	t.Parallel()
	for _, at := range []time.Time{t0.Add(5 * time.Minute), t0.Add(6 * time.Minute)} { // either order of the two ids
		r := newRig(t, examplePolicy(t))
		r.snap = true
		r.restart()
		fillSources(r, maxOpenPerRule)
		var last string
		for i, ip := range []string{"192.0.2.9", "192.0.2.10"} {
			r.send(guessFrom(at, ip)...)
			f := foldedAlert(t, r.eng.Alerts())
			r.event(lifecycle(at.Add(time.Duration(i+1)*time.Minute), ActionClose, f.ID, "alice", "blocked", nil))
			last = f.ID
		}
		if err := r.eng.WriteSnapshot(at); err != nil {
			t.Fatal(err)
		}
		r.restart()
		r.send(guessFrom(at.Add(3*time.Minute), "192.0.2.11")...)
		if f := foldedAlert(t, r.eng.Alerts()); f.Previous != last {
			t.Errorf("restored, the next folded alert names %s as its previous, want %s, the folded alert closed last", f.Previous, last)
		}
	}
}
