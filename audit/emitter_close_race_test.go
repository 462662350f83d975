package audit

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestEmitterCloseWhileSenderWaits closes an emitter between the sender's
// closing check and its wait: Close closes done, the batcher seals and
// closes sendCh, and the sender's select, finding both ready, may take the
// closed channel. It must read that as closing, not as a batch (CI stop 51
// crashed on a nil batch at emitter_run.go:173). The hook holds the sender
// in that gap until the batcher has gone; each lap is then a coin toss
// between the two cases, so 32 laps catch a sender that takes the nil
// (all but once in 2^32).
func TestEmitterCloseWhileSenderWaits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	inGap, release := make(chan struct{}), make(chan struct{})
	senderLapHook = func(e *Emitter) {
		if e.closed.Load() {
			return
		}
		inGap <- struct{}{}
		<-release
	}
	t.Cleanup(func() { senderLapHook = nil })
	for range 32 {
		e, err := NewEmitter(EmitterConfig{URL: srv.URL, FlushInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		<-inGap // past its closing check, short of its select
		closed := make(chan struct{})
		go func() { e.Close(); close(closed) }()
		WaitFor(t, "the batcher to close its channels", func() bool {
			select {
			case <-e.spoolQ: // closed with sendCh as the batcher returns
				return true
			default:
				return false
			}
		})
		release <- struct{}{}
		<-closed
	}
}
