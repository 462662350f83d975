package dataplane

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// Finding (review97): a status code outside 100..599 went from the service
// to the client as it came, and so did a response header whose name holds
// '_' where a client, cache or proxy that folds '_' into '-' (as CGI, PHP
// and WSGI servers fold request names) reads Content_Length or
// Transfer_Encoding beside the lines the sidecar checked, or X_Request_Id
// beside its own. RFC 9110 section 15: all valid status codes are within
// 100 to 599; fasthttp reads any three digits, and its server wrote "999"
// on the client's status line ("000" it reads as 0 and reports as 200).
// Envoy's header validator refuses a status outside 100..999; its
// headers_with_underscores_action applies to downstream requests only.
// Such an answer is now a 502 in the error shape, audited upstream_error.
// Other names with '_' (X_Powered_By) go on, as RFC 9110 allows.

// TestUpstreamMalformedResponseRefused has a raw upstream over loopback
// send each hostile answer as bytes: the client gets 502 upstream_error
// in the JSON error shape, audited so, and none of the service's bytes.
// Status 599, names with '-' and other names with '_' go on.
func TestUpstreamMalformedResponseRefused(t *testing.T) {
	t.Parallel()
	answers := []string{
		"HTTP/1.1 200 OK\r\nContent_Length: 40\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer_Encoding: chunked\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nKeep_Alive: timeout=600\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX_Request_Id: forged\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nProxy_Authenticate: Basic\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 999 Weird\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 600 Past\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok",
	}
	fine := []string{
		"HTTP/1.1 599 Last\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-Auth-User: admin\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX_Powered_By: php\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nSet_Cookie: sid=1\r\n_: 1\r\nContent-Length: 2\r\n\r\nok",
	}
	all := append(append([]string(nil), answers...), fine...)
	up := startRawUpstream(t, func(r *http.Request) []byte {
		i, _ := strconv.Atoi(r.URL.Query().Get("i"))
		return []byte(all[i])
	})
	st := startStack(t, func(c *Config) { c.Upstream, c.UpstreamTimeout = up, time.Minute })
	for i, a := range all {
		r := raw(t, st.addr, "GET /v1/status?i="+strconv.Itoa(i)+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")
		if i >= len(answers) {
			if r.status != 599 && r.status != 200 {
				t.Errorf("%q: the client got %d %q, want it as sent", a, r.status, r.body)
			}
			continue
		}
		if r.status != 502 || r.body == "ok" {
			t.Errorf("%q: the client got %d %q (header %v), want 502", a, r.status, r.body, r.header)
			continue
		}
		if e := r.errorBody(t); e.Error != "upstream_error" {
			t.Errorf("%q: error %q, want upstream_error", a, e.Error)
		}
		for k := range r.header {
			if strings.Contains(k, "_") {
				t.Errorf("%q: the client got the header %q", a, k)
			}
		}
		if rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rr.Decision != audit.UpstreamError {
			t.Errorf("%q: audited %v, want upstream_error", a, rr.Decision)
		}
	}
}
