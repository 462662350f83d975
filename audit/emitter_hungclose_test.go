package audit_test

import (
	"net"
	"testing"
	"time"

	. "github.com/portcullis/portcullis/audit"
)

// TestEmitterCloseBoundedByCloseTimeoutOnHungCollector closes an emitter
// whose collector accepts connections and never answers. Close took the
// post timeout (10 s) for the attempt in flight, then as long again for
// each attempt of its replay, CloseTimeout (5 s) checked only between
// them: a sidecar stopping on SIGTERM took 35 s, past Kubernetes' 30 s
// grace period the injector counts on, and was killed. Now the attempts
// at Close end at CloseTimeout, and the records are in the spool.
func TestEmitterCloseBoundedByCloseTimeoutOnHungCollector(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c // held open, never read from nor answered
		}
	}()
	t.Cleanup(func() {
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	})
	// A post timeout of an hour stands for any longer than CloseTimeout.
	cfg := WithPostTimeout(FastConfig("http://"+ln.Addr().String(), t.TempDir()), time.Hour)
	cfg.CloseTimeout = 100 * time.Millisecond
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	EmitN(t, e, n)
	WaitFor(t, "a post in flight", func() bool { return len(accepted) > 0 })
	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Minute): // a hang's bound, not a timing
		t.Fatalf("Close still waiting a minute later on a collector that never answers (CloseTimeout %v, post timeout 1h)", cfg.CloseTimeout)
	}
	if st := e.Stats(); st.Delivered != 0 || st.Dropped != 0 || st.Spooled != n {
		t.Errorf("stats %+v: want all %d records spooled, none dropped", st, n)
	}
}
