package inject_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
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
func TestWebhookBoundsConcurrentMemory(t *testing.T) {
	// The collector below holds the heap at 32 MiB, so the GC runs all
	// the time and a 4 MiB body over TLS can take longer than the 2 s
	// read deadline meant for tricklers (TestWebhookSlowBodiesDoNotStall);
	// this test is about memory, so the deadline is lifted.
	inject.LiftReviewReadTimeout(t, time.Minute)
	url, client := webhook(t, inject.Defaults())
	body := bigReview()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(32 << 20)) // collect hard: measure the live heap
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	stop, peak := make(chan struct{}), make(chan uint64)
	go func() {
		var mx uint64
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				peak <- mx
				return
			default:
			}
			runtime.ReadMemStats(&m)
			mx = max(mx, m.HeapAlloc)
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
	grew := (<-peak - base.HeapAlloc) >> 20
	t.Logf("peak heap over the start: %d MiB; codes %v", grew, codes)
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: status %d, want 200 (waited its turn)", i, c)
		}
	}
	if grew > 80 {
		t.Errorf("eight concurrent 4 MiB reviews took %d MiB of heap, want at most 80 (the injector's limit is 128Mi)", grew)
	}
}

// TestWebhookSlowBodiesDoNotStall: a client that sends the headers and
// then trickles (or withholds) its body holds a review slot only for a
// short read deadline: two such connections from any pod must not stall
// the API server's reviews (timeoutSeconds 5, failurePolicy Fail).
func TestWebhookSlowBodiesDoNotStall(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	host := strings.TrimPrefix(url, "https://")
	for range 3 {
		conn, err := tls.Dial("tcp", host, client.Transport.(*http.Transport).TLSClientConfig)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"apiVersion\":", inject.PathInject)
	}
	c := *client
	c.Timeout = 15 * time.Second // the held bodies would hold their slots for good
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	if resp := review(t, url, &c, inject.PathNamespace, pod); !resp.Allowed || len(resp.Patch) == 0 {
		t.Errorf("allowed %v, patch %d bytes; want injected", resp.Allowed, len(resp.Patch))
	}
}
