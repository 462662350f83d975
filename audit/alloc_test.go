//go:build !race

package audit

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestAppendJSONAllocs(t *testing.T) {
	r := sampleRecord(3)
	r.SetPath([]byte("/x\"\xff\u2028"))
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = r.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON: got %v allocs, want 0", n)
	}
	r.Status, r.Decision, r.Limit = 429, RateLimited, LimitTenant // a refusal names its limit
	if n := testing.AllocsPerRun(100, func() { buf = r.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON of a refusal: got %v allocs, want 0", n)
	}
}

// mallocs returns how many heap allocations n calls of f made, exactly
// (testing.AllocsPerRun rounds an average down, so it passes up to n-1),
// with the garbage collector off: a collection empties the pool the
// records go round through, and the next calls refill it.
func mallocs(n int, f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		f()
	}
	runtime.ReadMemStats(&after)
	return after.Mallocs - before.Mallocs
}

// leastMallocs is the least of three mallocs(n, f), for a guard of zero:
// the count is the process's, so a sink's own goroutine allocating
// meanwhile adds to it (a CI run saw 8 in 1,000 calls of
// FileWriter.Emit); noise only adds, and an allocation of f's own shows
// in all three.
func leastMallocs(n int, f func()) uint64 {
	return min(mallocs(n, f), mallocs(n, f), mallocs(n, f))
}

// drainRing empties q as its consumer would.
func drainRing(q *ring) {
	for q.peek() != nil {
		q.release()
	}
}

// The records go round: a steady load reuses the few records in flight,
// whatever the ring's size. With a record per slot, taken in turn, this
// load touched all 4096 (2.8 MB resident; issue 18).
//
// The spares are a sync.Pool, which keeps a put record in the put's P and
// drops them at a GC: the test runs on one P with the GC off, since a
// goroutine moved to another P, or a collection, hands out a new record
// now and then (a CI run saw 18 distinct records).
func TestRingReusesRecordsInFlight(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	q, _ := newRing(1 << 12)
	seen := map[*Record]bool{}
	r := new(Record)
	for range 1000 {
		for range 16 {
			r, _ = q.swap(r)
			seen[r] = true
		}
		drainRing(q)
	}
	if len(seen) > 17 {
		t.Errorf("1000 laps of 16 records in flight handed out %d distinct records, want at most 17", len(seen))
	}
}

// A record is allocated only to hold more records in flight than have
// been: a full ring refuses without allocating, and once the records have
// gone round, filling and draining the whole ring allocates nothing.
func TestRingAllocatesOnlyForRecordsInFlight(t *testing.T) {
	const slots = 64
	q, _ := newRing(slots)
	r := sampleRecord(1)
	p := new(Record)
	if n := mallocs(slots, func() { q.push(&r) }); n < slots/2 || n > slots+8 {
		t.Errorf("filling an empty ring made %d allocations, want about one record per slot (%d)", n, slots)
	}
	if n := mallocs(100, func() {
		if q.push(&r) {
			t.Fatal("push into a full ring succeeded")
		}
		if _, ok := q.swap(p); ok {
			t.Fatal("swap into a full ring succeeded")
		}
	}); n != 0 {
		t.Errorf("a full ring made %d allocations refusing 200 records, want 0", n)
	}
	lap := func() {
		for i := range slots {
			if i%2 == 0 {
				q.push(&r)
			} else {
				p, _ = q.swap(p)
			}
		}
		drainRing(q)
	}
	drainRing(q)
	lap()
	lap() // the spares' pool has built its lists
	if n := mallocs(100, lap); n != 0 {
		t.Errorf("100 laps of the full ring made %d allocations, want 0", n)
	}
}

// In the sinks, Emit and Swap allocate nothing once records go round. The
// test drains each ring itself, standing in for the sink's goroutine, which
// an hour's flush interval and one record in flight keep asleep (the
// collector URL is never reached).
func TestSinkEmitAllocs(t *testing.T) {
	w, err := NewFileWriter(filepath.Join(t.TempDir(), "a.jsonl"), FileConfig{Slots: 1 << 12, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	e, err := NewEmitter(EmitterConfig{URL: "http://127.0.0.1:1", Slots: 1 << 12, FlushInterval: time.Hour, BatchSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	type sink interface {
		Emit(*Record) bool
		Swap(*Record) (*Record, bool)
		Accepting() bool
	}
	for _, tc := range []struct {
		name string
		s    sink
		q    *ring
	}{{"FileWriter", w, w.q}, {"Emitter", e, e.q}} {
		r := sampleRecord(1)
		p := &r
		emit := func() { tc.s.Emit(&r); drainRing(tc.q); tc.s.Accepting() }
		swap := func() { p, _ = tc.s.Swap(p); drainRing(tc.q) }
		mallocs(100, emit)
		mallocs(100, swap)
		if n := leastMallocs(1000, emit); n != 0 {
			t.Errorf("%s.Emit: %d allocations in 1000 calls, want 0", tc.name, n)
		}
		if n := leastMallocs(1000, swap); n != 0 {
			t.Errorf("%s.Swap: %d allocations in 1000 calls, want 0", tc.name, n)
		}
	}
}

func TestBatchEncoderAllocs(t *testing.T) {
	var enc batchEncoder
	enc.res = Resource{Service: "svc", Host: "h", InstanceID: "i"}
	r := sampleRecord(2)
	r.SetUserAgent([]byte("bad\xffua"))
	refused := sampleRecord(3)
	refused.Status, refused.Decision, refused.Limit = 429, ConcurrencyLimited, LimitConcurrency
	id := []byte("i-1")
	run := func() {
		enc.begin(id)
		for range 32 {
			enc.add(&r)
			enc.add(&refused)
		}
		enc.finish()
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("batch encode: got %v allocs, want 0", n)
	}
}

// A batch built in a new buffer allocates about its own size, not the
// series of ever larger copies append makes (growing a large slice by a
// quarter at a time, 1.5 MB for a 340 KiB batch): with no collection
// under a steady load, that garbage stayed resident (issue 18).
func TestBatchEncoderGrowsOnce(t *testing.T) {
	const n = 512
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = sampleRecord(i)
	}
	id := []byte("i-1")
	var out []byte
	var got uint64
	for range 3 { // least of three: the count is the process's
		enc := batchEncoder{res: Resource{Service: "svc", Host: "h", InstanceID: "i"}, size: n}
		allocated := bytesAllocated(func() {
			enc.begin(id)
			for i := range recs {
				enc.add(&recs[i])
			}
			out = enc.finish()
		})
		if got == 0 || allocated < got {
			got = allocated
		}
	}
	if limit := uint64(len(out)) * 5 / 4; got > limit {
		t.Errorf("a %d-byte batch in a new buffer allocated %d bytes, want at most %d", len(out), got, limit)
	}
}

// bytesAllocated returns how many heap bytes f allocated.
func bytesAllocated(f func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestFileTokenAllocs: a replay's token costs no allocation.
func TestFileTokenAllocs(t *testing.T) {
	info, err := os.Stat(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	name := "00000000000000000007-00050.otlp"
	if n := testing.AllocsPerRun(100, func() { fileToken(name, info) }); n != 0 {
		t.Errorf("fileToken: got %v allocs, want 0", n)
	}
}
