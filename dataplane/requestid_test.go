package dataplane

import (
	"fmt"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

// Generated request ids carry the counter as 16 lower-case hex digits.
func TestAppendHex64(t *testing.T) {
	for _, n := range []uint64{0, 1, 9, 10, 15, 16, 0xabcdef, 1<<32 - 1, 1 << 32, 0x0123456789abcdef, 0xfedcba9876543210, 1<<64 - 1} {
		if got, want := string(appendHex64([]byte("p-"), n)), fmt.Sprintf("p-%016x", n); got != want {
			t.Errorf("appendHex64(%#x) = %q, want %q", n, got, want)
		}
	}
}

// Generated request ids are unique across exchanges and goroutines, though
// each exchange numbers its own block of them.
func TestGeneratedRequestIDsUnique(t *testing.T) {
	m := newInmem(t, false)
	const workers, each = 4, 5000
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ctx fasthttp.RequestCtx // no connection: pooled exchanges
			for range each {
				x := m.srv.begin(&ctx, 0, 0)
				m.srv.requestID(x)
				ids[w] = append(ids[w], string(x.reqID))
				m.srv.end(x)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, list := range ids {
		for _, id := range list {
			if seen[id] {
				t.Fatalf("request id %q generated twice", id)
			}
			if len(id) != len(m.srv.reqPrefix)+16 || !validRequestID([]byte(id)) {
				t.Fatalf("request id %q is not prefix + 16 hex digits", id)
			}
			seen[id] = true
		}
	}
}
