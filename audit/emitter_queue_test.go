package audit_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/portcullis/portcullis/audit"
)

// heldCollector is a collector whose answers wait until release is called
// (at the latest when the test ends).
func heldCollector(t *testing.T, s *sink) (url string, release func()) {
	gate := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-gate
		s.srv.Config.Handler.ServeHTTP(w, r)
	}))
	released := false
	release = func() {
		if !released {
			released = true
			close(gate)
		}
	}
	t.Cleanup(slow.Close)
	t.Cleanup(release) // runs before slow.Close: a held handler would block it
	return slow.URL, release
}

// TestEmitterHoldsRecordsWhileCollectorSlow holds the collector's first
// answer while twelve batches' worth of records are emitted: at most
// HoldQueued batches wait encoded for the sender (plus the one it is
// sending), the rest wait in their slots, which cost no memory of their
// own, where each encoded batch is a buffer (issue 18: sixteen queued
// batches put the sidecar's peak RSS above 30 MB on the collector path).
// Nothing goes to the spool, whose fsyncs would stall the drain of the
// slots, and once the collector answers every record is delivered.
func TestEmitterHoldsRecordsWhileCollectorSlow(t *testing.T) {
	s := newSink(t)
	url, release := heldCollector(t, s)
	cfg := FastConfig(url, t.TempDir())
	cfg.RetryBudget = time.Minute // a slow answer is not a failure here
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const batches = 12
	n := batches * cfg.BatchSize
	EmitN(t, e, n)
	limit := uint64(HoldQueued + 1)
	WaitFor(t, "the first batches built", func() bool { return e.Stats().Batches >= limit })
	// Without the hold the batcher builds all twelve within milliseconds
	// (20 ms flush ticks); give it many ticks to show that it does not.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got := e.Stats().Batches; got > limit {
			t.Fatalf("built %d batches while the collector held the first, want at most %d (the rest wait in their slots)", got, limit)
		}
	}
	if got := e.Stats().Spooled; got != 0 {
		t.Errorf("spooled %d records while the collector was slow, want 0", got)
	}
	release()
	WaitFor(t, "every record delivered", func() bool { return s.count() == n })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	if st.Delivered != uint64(n) || st.Dropped != 0 || st.Spooled != 0 {
		t.Errorf("delivered %d, dropped %d, spooled %d; want %d, 0 and 0", st.Delivered, st.Dropped, st.Spooled, n)
	}
}

// TestEmitterStopsHoldingWhenSlotsFill: with the collector held and the
// slots half full, the batcher builds batches again (they queue for the
// sender as before the hold), so the hold never keeps the slots full:
// every record is captured (EmitN retries a refused one, which a tight
// loop can meet before the batcher runs, counted in DroppedFull), none is
// spooled, and all are delivered once the collector answers.
func TestEmitterStopsHoldingWhenSlotsFill(t *testing.T) {
	s := newSink(t)
	url, release := heldCollector(t, s)
	cfg := FastConfig(url, t.TempDir())
	cfg.RetryBudget = time.Minute
	cfg.Slots = 256
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := 7 * cfg.BatchSize // 448: more than the slots and the held batches
	EmitN(t, e, n)         // polls until each record is captured
	WaitFor(t, "batches built past the hold", func() bool { return e.Stats().Batches > uint64(HoldQueued+1) })
	if st := e.Stats(); st.Spooled != 0 || st.Captured != uint64(n) {
		t.Errorf("with the slots half full: %d spooled, %d captured; want 0 and %d", st.Spooled, st.Captured, n)
	}
	release()
	WaitFor(t, "every record delivered", func() bool { return s.count() == n })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if st := e.Stats(); st.Delivered != uint64(n) || st.Dropped != st.DroppedFull {
		t.Errorf("delivered %d, dropped %d (%d refused at capture); want %d, and no drop after capture", st.Delivered, st.Dropped, st.DroppedFull, n)
	}
}
