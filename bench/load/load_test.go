package load

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serve starts a fasthttp server on loopback answering 200, or 401 without
// the X-API-Key header, and returns its address.
func serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if len(ctx.Request.Header.Peek("X-API-Key")) == 0 {
			ctx.SetStatusCode(fasthttp.StatusUnauthorized)
			return
		}
		ctx.SetBodyString("ok")
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

func TestSaturate(t *testing.T) {
	t.Parallel()
	addr := serve(t)
	r := Saturate(context.Background(), Config{Addr: addr, Path: "/x", Header: map[string]string{"X-API-Key": "k"}, Conns: 4, Duration: 200 * time.Millisecond})
	if r.Requests == 0 || r.Errors != 0 || r.Non2xx != 0 {
		t.Fatalf("got %d ok, %d errors, %d non-2xx; want only ok", r.Requests, r.Errors, r.Non2xx)
	}
	if got := uint64(r.Latency.TotalCount()); got != r.Requests {
		t.Errorf("histogram holds %d values, want %d", got, r.Requests)
	}
	if r.RPS() <= 0 || r.Quantile(99) <= 0 || r.Max() < r.Quantile(50) {
		t.Errorf("rps %v, p99 %v, max %v: want positive, max >= p50", r.RPS(), r.Quantile(99), r.Max())
	}
}

func TestConstantSendsTheScheduledCount(t *testing.T) {
	t.Parallel()
	addr := serve(t)
	r := Constant(context.Background(), Config{Addr: addr, Path: "/x", Header: map[string]string{"X-API-Key": "k"}, Conns: 2, Rate: 500, Duration: 200 * time.Millisecond})
	if r.Requests != 100 || r.Errors != 0 {
		t.Fatalf("got %d ok and %d errors, want 100 ok (500/s for 200ms)", r.Requests, r.Errors)
	}
	if r.Elapsed < 190*time.Millisecond {
		t.Errorf("finished after %v, want about 200ms: the schedule was not kept", r.Elapsed)
	}
}

func TestNon2xxCounted(t *testing.T) {
	t.Parallel()
	addr := serve(t)
	r := Constant(context.Background(), Config{Addr: addr, Path: "/x", Conns: 1, Rate: 1000, Duration: 20 * time.Millisecond})
	if r.Non2xx != 20 || r.Requests != 0 || r.Latency != nil {
		t.Fatalf("got %d non-2xx, %d ok; want 20 non-2xx, no latencies", r.Non2xx, r.Requests)
	}
	if code, err := Probe(Config{Addr: addr, Path: "/x"}); err != nil || code != 401 {
		t.Errorf("Probe = %d, %v; want 401", code, err)
	}
}

// A target that holds every connection makes due requests wait: the wait
// is the target's, counted as latency and as MaxWait, and is not schedule
// lag, which is the generator's own lateness and marks a run invalid
// (issue 18). Before the split, a slow target had its stall reported as
// the generator's lag.
func TestConstantWaitForTargetIsNotLag(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { time.Sleep(20 * time.Millisecond) }}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	// 20 requests due over 100 ms on one connection answering in 20 ms each:
	// the last waits about 300 ms for the connection.
	r := Constant(context.Background(), Config{Addr: ln.Addr().String(), Path: "/x", Conns: 1, Rate: 200, Duration: 100 * time.Millisecond})
	if r.Requests != 20 {
		t.Fatalf("got %d answered, want 20", r.Requests)
	}
	if r.MaxWait < 200*time.Millisecond {
		t.Errorf("MaxWait = %v, want >= 200ms (the last request waits about 300ms for the one connection)", r.MaxWait)
	}
	if r.MaxLag >= 100*time.Millisecond {
		t.Errorf("MaxLag = %v, want the generator's own lateness (well under 100ms), not the wait for the target", r.MaxLag)
	}
	// Only requests that found the connection free have a schedule lag: the
	// first, and any the connection happened to be free for.
	if r.Lag == nil || r.Lag.TotalCount() < 1 || r.Lag.TotalCount() > 5 {
		t.Errorf("lag histogram %v, want 1-5 values (the requests that found the connection free)", r.Lag)
	}
	if got := r.Quantile(100); got < r.MaxWait {
		t.Errorf("largest latency %v is below the largest wait %v: the wait must count as latency", got, r.MaxWait)
	}
}
