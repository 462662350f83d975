//go:build !race

package inject_test

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/inject"
)

// bigReview is an AdmissionReview of about 4 MiB (the body bound) with
// few values (within the value bound): a pod with 30,000 annotations.
func bigReview() string {
	var b strings.Builder
	for i := 0; b.Len() < 4<<20-2000; i++ {
		fmt.Fprintf(&b, `"k%06d":"%s",`, i, strings.Repeat("v", 100))
	}
	obj := `{"metadata":{"annotations":{` + b.String() + `"portcullis.dev/inject":"true"}},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`
	return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":` + obj + `}}`
}

// TestWebhookBoundsConcurrentMemory: one review of a 4 MiB body takes
// about 25 MiB of live heap (the body, the object decoded twice, the
// patch and its base64), and the webhook answered any number at once:
// a few concurrent requests from any pod reaching the webhook's port
// (the NetworkPolicy lets every pod in) took the injector past its 128Mi
// memory limit, and with failurePolicy Fail an OOM-killed injector (in
// CrashLoopBackOff) stops pod creation in every labelled namespace. The
// reviews in progress are bounded, so eight at once stay well within it.
//
// Under the injector's Go memory limit (90% of its 128Mi, which
// portcullis injector sets from its cgroup at start) the runtime collects
// before its memory passes 115.2 MiB, if what the reviews need fits below
// it: without a limit the runtime's memory grew to 165 MiB in a run by
// hand (the heap at twice the live heap), past the container's limit;
// under it, 115 MiB. So the runtime's memory here, with the garbage
// collector at its hardest (the 32 MiB limit below) and this test's
// client counted too, must fit under that limit.
//
// It measures the heap, which the race detector's allocations swell (79
// MiB of live heap in one -race run where a plain one reads 60-68, and 81
// MiB of HeapAlloc failed CI), so it builds without it and runs in make
// test's second pass, one package at a time.
func TestWebhookBoundsConcurrentMemory(t *testing.T) {
	// The collector below holds the heap at 32 MiB, so the GC runs all
	// the time and a 4 MiB body over TLS can take longer than the 2 s
	// read deadline meant for tricklers (TestWebhookSlowBodiesDoNotStall);
	// this test is about memory, so the deadline is lifted.
	inject.LiftReviewReadTimeout(t, time.Minute)
	url, client := webhook(t, inject.Defaults())
	body := bigReview()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(32 << 20)) // collect hard: measure the live heap
	// The live heap, as each GC cycle marks it: what the reviews hold.
	// The heap allocated (HeapAlloc) also counts garbage not yet swept,
	// which grows when the machine starves the GC's workers: CI read 81
	// MiB of it once where a quiet run reads 63-69, with the live heap
	// unchanged.
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	runtime.GC()
	metrics.Read(live)
	base := live[0].Value.Uint64()

	// The runtime's memory, as its memory limit counts it: all it
	// mapped less what it gave back to the OS.
	stop, peak, peakMapped := make(chan struct{}), make(chan uint64), make(chan uint64, 1)
	go func() {
		var mx, mapped uint64
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
		for {
			select {
			case <-stop:
				peakMapped <- mapped
				peak <- mx
				return
			default:
			}
			metrics.Read(s)
			mx = max(mx, s[0].Value.Uint64())
			mapped = max(mapped, s[1].Value.Uint64()-s[2].Value.Uint64())
			time.Sleep(100 * time.Microsecond)
		}
	}()
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Go(func() {
			resp, err := client.Post(url+inject.PathInject, "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			codes[i] = resp.StatusCode
		})
	}
	wg.Wait()
	close(stop)
	grew, mapped := (<-peak-base)>>20, <-peakMapped
	t.Logf("peak live heap over the start: %d MiB; the runtime's memory at most %d MiB; codes %v", grew, mapped>>20, codes)
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: status %d, want 200 (waited its turn)", i, c)
		}
	}
	if grew > 80 {
		t.Errorf("eight concurrent 4 MiB reviews held %d MiB of live heap, want at most 80 (the injector's limit is 128Mi)", grew)
	}
	const goLimit = 128<<20 - 128<<20/10
	if mapped > goLimit {
		t.Errorf("eight concurrent 4 MiB reviews took %d MiB of the runtime's memory with the collector at its hardest, want at most the injector's Go memory limit, %d MiB (90%% of 128Mi)", mapped>>20, goLimit>>20)
	}
}
