package inject_test

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/inject"
)

// TestWebhookManySlowBodiesDoNotStall: a review slot was taken before
// the body was read, and a client that sent its headers and then
// withheld its body held one for the whole read deadline (2 s). The
// slots are handed out in turn, so a dozen such connections from any
// pod (the NetworkPolicy lets every pod reach the webhook's port), which
// send nothing but headers, kept the API server's review waiting past
// its timeoutSeconds (5): with failurePolicy Fail, no pod could be
// created in a labelled namespace, and no injected pod updated, for as
// long as the connections were renewed. The API server's review must be
// answered within its 5 s.
func TestWebhookManySlowBodiesDoNotStall(t *testing.T) {
	url, client := webhook(t, inject.Defaults())
	host := strings.TrimPrefix(url, "https://")
	for range 12 {
		conn, err := tls.Dial("tcp", host, client.Transport.(*http.Transport).TLSClientConfig)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"apiVersion\":", inject.PathInject)
	}
	time.Sleep(100 * time.Millisecond) // the held requests are in first
	c := *client
	c.Timeout = 5 * time.Second // the API server's timeoutSeconds
	pod := []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","ports":[{"name":"http","containerPort":8081}]}]}}`)
	start := time.Now()
	if resp := review(t, url, &c, inject.PathNamespace, pod); !resp.Allowed || len(resp.Patch) == 0 {
		t.Errorf("allowed %v, patch %d bytes; want injected", resp.Allowed, len(resp.Patch))
	}
	t.Logf("answered in %v", time.Since(start))
}
