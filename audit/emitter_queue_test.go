package audit_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/portcullis/portcullis/audit"
)

// TestEmitterQueuesWhileCollectorSlow holds the collector's first answer
// while twelve batches are built: they wait in memory for the sender
// instead of going to the spool, whose fsyncs would stall the drain of the
// slots (issue 18: with a queue of four batches the bench overran 4096
// slots). Once the collector answers, every record is delivered.
func TestEmitterQueuesWhileCollectorSlow(t *testing.T) {
	s := newSink(t)
	gate := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-gate
		s.srv.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)
	released := false
	release := func() {
		if !released {
			released = true
			close(gate)
		}
	}
	t.Cleanup(release)
	cfg := FastConfig(slow.URL, t.TempDir())
	cfg.RetryBudget = time.Minute // a slow answer is not a failure here
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const batches = 12
	n := batches * cfg.BatchSize
	EmitN(t, e, n)
	WaitFor(t, "twelve batches built", func() bool { return e.Stats().Batches >= batches })
	if got := e.Stats().Spooled; got != 0 {
		t.Errorf("spooled %d records while the collector was slow, want 0 (batches wait in memory)", got)
	}
	release()
	WaitFor(t, "every record delivered", func() bool { return s.count() == n })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	if st.Delivered != uint64(n) || st.Dropped != 0 {
		t.Errorf("delivered %d, dropped %d; want %d and 0", st.Delivered, st.Dropped, n)
	}
}
