package dataplane

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestJWKSFetchErrorLogHoldsNoResponseBytes: a JWKS endpoint answering
// with a head the HTTP client cannot read had the client's error quote it
// (a header line whole, a status line, a Location with its query), and
// that error went into the sidecar's log line: a session cookie of the
// provider's balancer, a presigned URL's signature. The line now names
// the failure by kind, "malformed or unreadable response", as upstream
// failures are logged (attack804). Each answer comes from a raw socket
// (startClosingUpstream).
func TestJWKSFetchErrorLogHoldsNoResponseBytes(t *testing.T) {
	answers := []string{
		"HTTP/1.1 200 OK\r\nSet-Cookie: idp_session=s3cr3t-c00kie\x01\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 2O0 s3cr3t-status\r\nContent-Length: 0\r\n\r\n",
		"XTTP/1.1 200 s3cr3t-line\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 302 Found\r\nLocation: https://idp.example:bad/jwks?X-Amz-Signature=s3cr3t-sig\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 302 Found\r\nLocation: http://idp.example/jwks?X-Amz-Signature=s3cr3t-sig\r\nContent-Length: 0\r\n\r\n",
	}
	for _, answer := range answers {
		logs := &syncBuffer{}
		st := startStack(t, func(c *Config) { c.Logger = zerolog.New(logs) })
		url := "http://" + startClosingUpstream(t, []string{answer})
		st.store.Swap(exampleWithJWKSURL(t, url+"/jwks", 2))
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(logs.String(), "token issuer keys not fetched") {
			if time.Now().After(deadline) {
				t.Fatalf("answer %q: no fetch failure logged in:\n%s", answer, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if strings.Contains(logs.String(), "s3cr3t") {
			t.Errorf("answer %q: a log line holds the provider's bytes:\n%s", answer, logs.String())
		}
	}
}
