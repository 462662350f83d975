package alert

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestRestoreKeepsFoldsPastLinks: past maxFoldLinks, a folded source is
// linked to the folded alert by its window only. Restored from a
// snapshot, the engine keeps that link as the live one does: the source's
// next guesses grow the folded alert, they do not fold it a second time.
func TestRestoreKeepsFoldsPastLinks(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.snap = true
	r.restart()
	n := maxOpenPerRule + maxFoldLinks + 5
	ip := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", i/62500, i/250%250, i%250+1) }
	at := t0.Add(time.Minute)
	for lo := 0; lo < n; lo += 5000 {
		recs := make([]collector.StoredRecord, 0, 5000)
		for i := lo; i < min(lo+5000, n); i++ {
			recs = append(recs, rec(at.Add(time.Duration(i)*time.Microsecond), failed("guess0000"), from(ip(i)), func(r *collector.StoredRecord) { r.Count = 31 }))
		}
		r.send(recs...)
	}
	before := foldedAlert(t, r.eng.Alerts())
	if before.Folded != maxFoldLinks+5 {
		t.Fatalf("folded %d, want %d", before.Folded, maxFoldLinks+5)
	}
	if err := r.eng.WriteSnapshot(at); err != nil {
		t.Fatal(err)
	}
	r.restart()
	if r.stats.Snapshot == 0 {
		t.Fatalf("not restored from the snapshot: %+v", r.stats)
	}
	last := ip(n - 1) // folded past maxFoldLinks: linked by its window only
	r.send(rec(at.Add(time.Second), failed("guess0000"), from(last)))
	if got := foldedAlert(t, r.eng.Alerts()); got.Folded != before.Folded || got.Count != before.Count+1 {
		t.Errorf("a guess of %s, folded, after a restore: folded %d, count %d; want %d, %d (the folded alert grows)",
			last, got.Folded, got.Count, before.Folded, before.Count+1)
	}
}
