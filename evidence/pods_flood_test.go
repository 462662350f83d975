package evidence

import (
	"strconv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestPodFloodHidesNoSilence: the pack follows at most a bound of pods
// (by pod and sender) for their silence, and the first stored took every
// place, as the instances did (TestInstanceFloodHidesNoLostBatches). A
// stolen sender credential naming a new pod in each of 10,000 tiny
// batches, stored before a period's first real batch, left every real
// sidecar unfollowed: pod-f's sidecar (no member record: file mode)
// dropped out of the SILENCE NOT CHECKED line, and pod-a's, quiet from
// 00:30 to 23:30, was said to have stored no batch at all. One sender's
// pods now take at most Config.MaxPerSender places (of ten times that),
// and batches of pods not followed are named by their sender; the test
// floods past a bound of 20, as the default's 10,000 a day.
func TestPodFloodHidesNoSilence(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	r := newMemberRig(t, day.Add(10*time.Minute), collector.SenderToken{Name: "sidecar-a", Token: tokenA}, collector.SenderToken{Name: "sidecar-f", Token: tokenB})
	r.maxPerSender = 20
	r.member("pod-a", day, day)
	for i := range r.maxPerSender + 1 {
		id := "thief-" + strconv.Itoa(i) + "-1"
		recs := []collector.StoredRecord{{Time: r.now(), Tenant: "acme", Client: "acme-hris", KeyID: "acmehris1",
			Method: "GET", Route: "/v1/users", Path: "/v1/users", Status: 200, Decision: "allowed", RequestID: "r-" + id}}
		if err := r.st.AppendBatch(&collector.Batch{ID: id, Sender: "token:thief", Pod: "pod-thief-" + strconv.Itoa(i), Records: recs}); err != nil {
			t.Fatal(err)
		}
	}
	a, f := r.emitter("pod-a", tokenA), r.emitter("pod-f", tokenB)
	r.set(day.Add(30 * time.Minute))
	r.send(a)
	r.set(day.Add(time.Hour))
	r.send(f)
	r.set(day.Add(23*time.Hour + 30*time.Minute))
	r.send(a)
	res := r.pack("2026-05-12")
	if want := `"pod-a" (token:sidecar-a): no batch stored 2026-05-12T00:30:00Z to 2026-05-12T23:30:00Z`; !warned(res, want) {
		t.Errorf("no warning says %q", want)
	}
	if want := `"pod-f" (token:sidecar-f)`; !warned(res, want) {
		t.Errorf("no warning names %s, whose silence is not checked", want)
	}
	if want := "SILENCE NOT CHECKED: batches of period 2026-05-12_2026-05-12 name pods the pack did not follow: token:thief: 1 batches"; !warned(res, want) {
		t.Errorf("no warning says %q", want)
	}
	// Nor does a line grow with the pods a sender names: the SHARED
	// SENDER line listed every pod of the thief's, some 200 KB to the
	// terminal and the pack's files (256-byte names: 2.6 MB).
	for _, w := range res.Warnings {
		if len(w) > 16<<10 {
			t.Errorf("a warning of %d bytes: %.200s...", len(w), w)
		}
	}
}
