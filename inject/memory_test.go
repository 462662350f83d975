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
