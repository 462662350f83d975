//go:build !race

package audit

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// okServer is a collector stand-in over loopback that reads each batch and
// answers 200. It is a fasthttp server, which allocates nothing per
// request, so what the test counts is the emitter's side.
func okServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if len(ctx.PostBody()) == 0 {
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
		}
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// encodedBatch returns a batch of n records as the batcher encodes it.
func encodedBatch(n int) []byte {
	var enc batchEncoder
	enc.res = Resource{Service: "svc", Host: "h", InstanceID: "i"}
	enc.begin([]byte("i-1"))
	for i := range n {
		r := sampleRecord(i)
		enc.add(&r)
	}
	return append([]byte(nil), enc.finish()...)
}

// Posting a batch leaves no garbage behind (issue 18): net/http left
// about 40 objects and a 32 KiB copy buffer per batch, so the sidecar's
// heap grew to twice its live size between collections.
func TestEmitterPostAllocs(t *testing.T) {
	e, err := NewEmitter(EmitterConfig{URL: okServer(t), Slots: 1 << 12, FlushInterval: time.Hour, BatchSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	data := encodedBatch(512)
	for range 3 { // dial and fill the pools first
		if got := e.post(data); got != sendOK {
			t.Fatalf("post: got %v, want sendOK", got)
		}
	}
	const runs = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	allocs := testing.AllocsPerRun(runs, func() {
		if e.post(data) != sendOK {
			t.Fatal("post failed")
		}
	})
	runtime.ReadMemStats(&after)
	perPost := (after.TotalAlloc - before.TotalAlloc) / (runs + 1)
	t.Logf("%d-byte batch: %v allocs, %d bytes per post", len(data), allocs, perPost)
	if allocs > 0.05 || perPost > 256 {
		t.Errorf("post: got %v allocs and %d bytes per batch, want none", allocs, perPost)
	}
}
