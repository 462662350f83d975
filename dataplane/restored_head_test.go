package dataplane

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// TestRestoredHeadForwardedRefusalAsTheHandlers: behind a trusted proxy,
// a head the handler's step 1 takes but whose forwarded source it refuses
// (X-Forwarded-For beside Forwarded, more than 16 X-Forwarded-For lines)
// is recorded with no source: decide sets the peer to what sourceAddr
// returns. The same head with a small body that stalled (restored,
// headNames) was recorded with the proxy's address; a head that fails
// only the version check (HTTP/1.2) with the X-Forwarded-For client, the
// reset having lost the version. The restored record names what the
// handler's does.
func TestRestoredHeadForwardedRefusalAsTheHandlers(t *testing.T) {
	st, _ := startRecorded(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	swapDoc(t, st.store, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.9/32"} })
	for _, c := range []struct{ name, version, fwd string }{
		{"X-Forwarded-For and Forwarded", "HTTP/1.1", "X-Forwarded-For: 198.51.100.66\r\nForwarded: for=198.51.100.7\r\n"},
		{"17 X-Forwarded-For lines", "HTTP/1.1", strings.Repeat("X-Forwarded-For: 198.51.100.66\r\n", 17)},
		{"HTTP/1.2", "HTTP/1.2", "X-Forwarded-For: 198.51.100.66\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := "fwd-" + strings.NewReplacer(" ", "-", "/", "").Replace(c.name)
			head := func(id, cl string) string {
				return "POST /v1/records " + c.version + "\r\nHost: svc\r\nX-Request-ID: " + id + "\r\nX-API-Key: " + hrisKey + "\r\n" + cl + c.fwd + "\r\n"
			}
			ref := proxiedFirstAnswer(t, st.addr, head(id+"-ref", ""), "")
			want := st.sink.withRequestID(t, id+"-ref")
			if ref.status != 400 {
				t.Fatalf("the handler answered the head without a body %d, want 400", ref.status)
			}
			r := proxiedFirstAnswer(t, st.addr, head(id, "Content-Length: 100\r\n")+"{", "")
			if r.status != 400 {
				t.Fatalf("answer %d %q, want 400", r.status, r.body)
			}
			if got := st.sink.withRequestID(t, id); got.SourceIP != want.SourceIP {
				t.Errorf("audited source %v for the stalled body, the handler's record of the same head %v", got.SourceIP, want.SourceIP)
			}
		})
	}
}
