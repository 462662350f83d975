package dataplane

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"runtime"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/policytest"
	"github.com/valyala/fasthttp"
)

// scaleSizes are the policies of the scaling benchmarks (issue 18): 10,
// 1,000 and 100,000 API keys over a tenth as many clients and a hundredth
// as many tenants, with 1,000 routes.
var scaleSizes = []int{10, 1000, 100_000}

// scaleSize is the generated policy of the scaling benchmarks with keys
// API keys.
func scaleSize(keys int) policytest.Size {
	return policytest.Size{Tenants: keys / 100, Clients: keys / 10, Keys: keys, Routes: 1000}
}

// BenchmarkDecideScale is BenchmarkDecide over generated policies of 10,
// 1,000 and 100,000 keys with 1,000 routes. Requests take turns over
// active keys spread over the key records (and over as many routes), so
// that the caches hold the same working set at every size: active=10
// compares the sizes (issue 18: 100,000 keys within 1.2x of 10), and
// active=1000 adds the cost of a larger working set.
func BenchmarkDecideScale(b *testing.B) {
	for _, keys := range scaleSizes {
		for _, active := range []int{10, 1000} {
			if active > keys {
				continue
			}
			b.Run(fmt.Sprintf("keys=%d/active=%d", keys, active), func(b *testing.B) {
				sb := newScaleBench(b, scaleSize(keys), active)
				sb.loop(b)
			})
		}
	}
}

// scaleBench is a Server in front of an in-memory upstream, serving a
// generated policy, with one parsed request per active key.
type scaleBench struct {
	srv   *Server
	store *policy.Store
	sink  *discard
	ctxs  []*fasthttp.RequestCtx
	doc   *policy.Document
}

// newScaleBench compiles the policy of size with the real compiler,
// installs it and parses active requests, the i-th with key
// i*Keys/active on route i*Routes/active.
func newScaleBench(tb testing.TB, size policytest.Size, active int) *scaleBench {
	tb.Helper()
	doc, keys := policytest.Document(size)
	snap, err := policy.Compile(doc, policy.Live{Revision: 1})
	if err != nil {
		tb.Fatal(err)
	}
	sb := &scaleBench{store: &policy.Store{}, sink: &discard{}, doc: doc}
	sb.store.Swap(snap)
	body := bytes.Repeat([]byte("x"), 1024)
	dial := func(string) (net.Conn, error) { return newMemConn(body), nil }
	if sb.srv, err = New(Config{Store: sb.store, Upstream: "inmem:80", Audit: sb.sink, UpstreamDial: dial}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(sb.srv.Close)
	for i := range active {
		raw := request("GET", policytest.RoutePath(i*len(doc.Routes)/active), keys[i*len(keys)/active])
		ctx := new(fasthttp.RequestCtx)
		ctx.Init2(newConn(newMemConn(nil)), nil, false)
		if err := ctx.Request.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
			tb.Fatal(err)
		}
		sb.ctxs = append(sb.ctxs, ctx)
	}
	return sb
}

// warm decides every request twice, the verification cache settling in
// between, so that the timed loop sees the steady state.
func (sb *scaleBench) warm(tb testing.TB) {
	tb.Helper()
	mono, wall := sb.srv.clock.now()
	for range 2 {
		for _, ctx := range sb.ctxs {
			sb.decide(tb, ctx, mono, wall)
		}
		sb.srv.keys.Wait()
	}
}

// decide runs decide and settle on ctx at mono and wall, as benchDecide
// does, and returns the duration recorded.
func (sb *scaleBench) decide(tb testing.TB, ctx *fasthttp.RequestCtx, mono, wall int64) int64 {
	x := sb.srv.beginAt(ctx, mono, wall)
	if d := sb.srv.decide(ctx, x); d != audit.Allowed {
		tb.Fatalf("decision %v", d)
	}
	sb.srv.end(ctx, x) // frees the slots decide took, records, readies x, as the handler does
	return int64(sb.sink.last.Duration)
}

// loop times decisions on the requests in turn.
func (sb *scaleBench) loop(b *testing.B) {
	sb.warm(b)
	runtime.GC() // the setup's garbage is collected before, not during, the loop
	mono, wall := sb.srv.clock.now()
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d := sb.decide(b, sb.ctxs[i], mono, wall)
		mono, wall = mono+d, wall+d
		if i++; i == len(sb.ctxs) {
			i = 0
		}
	}
}

// BenchmarkDecideAfterSwap is the first decision after a policy swap, over
// the generated policies: the writer compiles and prepares, a request
// must find everything built (issue 18: no step linear in the keys on the
// request path). Each op swaps in one of two compiled snapshots of the
// same policy, untimed, then times one decision.
func BenchmarkDecideAfterSwap(b *testing.B) {
	for _, keys := range scaleSizes {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			sb := newScaleBench(b, scaleSize(keys), 1)
			sb.warm(b)
			snaps := [2]*policy.Snapshot{sb.compile(b), sb.compile(b)}
			mono, wall := sb.srv.clock.now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				sb.store.Swap(snaps[i%2])
				b.StartTimer()
				d := sb.decide(b, sb.ctxs[0], mono, wall)
				mono, wall = mono+d, wall+d
			}
		})
	}
}

// compile compiles the benchmark's policy again: a new snapshot of the
// same policy.
func (sb *scaleBench) compile(tb testing.TB) *policy.Snapshot {
	tb.Helper()
	snap, err := policy.Compile(sb.doc, policy.Live{Revision: 2})
	if err != nil {
		tb.Fatal(err)
	}
	return snap
}

// BenchmarkCompileSwap is a policy push in file mode over the generated
// policies: Compile, then Store.Swap, whose preparer builds the data
// plane's tables and key front (issue 18: compile and swap of 100,000
// keys under 1 s). MiB is the heap the sidecar holds with the policy in
// force (document, snapshot, prepared tables, and the server's fixed
// costs, which dominate the small policies); at 100,000 keys B/key is that
// per key, with a client per 10 keys and a tenant per 100.
func BenchmarkCompileSwap(b *testing.B) {
	for _, keys := range scaleSizes {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			sb := newScaleBench(b, scaleSize(keys), 1)
			runtime.GC()
			runtime.ReadMemStats(&after)
			held := float64(int64(after.HeapAlloc) - int64(before.HeapAlloc))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				sb.store.Swap(sb.compile(b))
			}
			b.ReportMetric(held/(1<<20), "MiB")
			if keys >= 100_000 {
				b.ReportMetric(held/float64(keys), "B/key")
			}
		})
	}
}
