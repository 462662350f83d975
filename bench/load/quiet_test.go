package load

import (
	"context"
	"net"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// serveWith starts a fasthttp server on loopback with handler h and returns
// its address.
func serveWith(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// gcCycles is the number of completed collections of the process.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

var garbage atomic.Pointer[[]byte]

// No collection runs during a Constant window, however much the process
// allocates meanwhile (here the in-process target, 50 MB): a collection
// stops or slows the pacer and the workers, which is schedule lag
// (docs/performance.md, "Schedule lag"). Not parallel: the collector
// setting is the process's.
func TestConstantCollectsNothingDuringTheWindow(t *testing.T) {
	var first, last atomic.Uint64
	addr := serveWith(t, func(ctx *fasthttp.RequestCtx) {
		b := make([]byte, 512<<10)
		garbage.Store(&b)
		n := gcCycles()
		first.CompareAndSwap(0, n+1)
		last.Store(n + 1)
	})
	r := Constant(context.Background(), Config{Addr: addr, Path: "/x", Conns: 2, Rate: 500, Duration: 200 * time.Millisecond})
	if r.Requests != 100 {
		t.Fatalf("got %d answered, want 100", r.Requests)
	}
	if got := last.Load() - first.Load(); got != 0 {
		t.Errorf("%d collections ran between the first and the last request of the window, want 0", got)
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GC percent after the run = %d, want 100 (restored)", p)
	}
}

// Overlapping runs leave the collector as they found it: the last to end
// restores it, not the first.
func TestOverlappingConstantRunsRestoreTheCollector(t *testing.T) {
	addr := serveWith(t, func(ctx *fasthttp.RequestCtx) {})
	var wg sync.WaitGroup
	for _, d := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond} {
		wg.Go(func() {
			Constant(context.Background(), Config{Addr: addr, Path: "/x", Conns: 1, Rate: 100, Duration: d})
		})
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("GC percent after two overlapping runs = %d, want 100", p)
	}
}

// With RealTime, the process's threads run at SCHED_FIFO during the window
// (the target here is in-process, so its handler sees it) and are back at
// SCHED_OTHER after it. Needs root; not parallel (the setting is the
// process's).
func TestConstantRealTime(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SCHED_FIFO needs root")
	}
	var fifo, other atomic.Int64
	addr := serveWith(t, func(ctx *fasthttp.RequestCtx) {
		a, err := unix.SchedGetAttr(0, 0)
		switch {
		case err != nil:
		case a.Policy == unix.SCHED_FIFO && a.Priority == 7:
			fifo.Add(1)
		default:
			other.Add(1)
		}
	})
	r := Constant(context.Background(), Config{Addr: addr, Path: "/x", Conns: 2, Rate: 500, Duration: 100 * time.Millisecond, RealTime: 7})
	if r.NotRealTime != "" || r.Requests != 50 {
		t.Fatalf("got %d answered, NotRealTime %q; want 50 and applied", r.Requests, r.NotRealTime)
	}
	if fifo.Load() != 50 || other.Load() != 0 {
		t.Errorf("requests handled at SCHED_FIFO 7: %d, otherwise: %d; want all 50 at SCHED_FIFO 7", fifo.Load(), other.Load())
	}
	tids, err := threads()
	if err != nil {
		t.Fatal(err)
	}
	for _, tid := range tids {
		if a, err := unix.SchedGetAttr(tid, 0); err == nil && a.Policy != unix.SCHED_NORMAL {
			t.Errorf("thread %d at policy %d after the run, want SCHED_OTHER (%d, SCHED_NORMAL)", tid, a.Policy, unix.SCHED_NORMAL)
		}
	}
}
