package dataplane

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// fasthttp keeps a trailer field whose name has a space inside ("X
// Portcullis-Tenant"), unnormalised, and merges it into the header map;
// dropTrailers deleted each trailer name lower-cased, which fasthttp's Del
// matches only on a normalised name, so such a field stayed and reached
// the service as a header line nothing checked, where the header section
// refuses any name with a byte but a letter, digit or '-'
// (TestHeaderNameLookalikesRefused) and a response refuses a spaced name
// (TestUpstreamHeaderNameWithSpaceRefused). A parser that cuts the name at
// the space, or folds it as CGI does, reads a header the sidecar removes
// or sets. Such a trailer is now a 400, audited bad_request, and nothing
// reaches the upstream.
func TestTrailerNameWithSpaceRefused(t *testing.T) {
	t.Parallel()
	up := startNaiveUpstream(t)
	st := startStack(t, func(c *Config) { c.Upstream = up.addr })
	for _, trailer := range []string{
		"X Portcullis-Tenant: globex",
		"X-HTTP-Method-Override Now: DELETE",
		"X-Foo Bar: 1",
	} {
		req := "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey +
			"\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n" + trailer + "\r\n\r\n"
		r := raw(t, st.addr, req)
		if r.status != 400 || r.errorBody(t).Error != "bad_request" {
			t.Errorf("trailer %q: got %d %s, want 400 bad_request", trailer, r.status, r.body)
		}
		if rec := st.sink.last(t); rec.Decision != audit.BadRequest {
			t.Errorf("trailer %q: audited %v, want bad_request", trailer, rec.Decision)
		}
	}
	for _, h := range up.received() {
		for name := range h.header {
			if strings.Contains(name, " ") {
				t.Errorf("the upstream got a header named %q from a trailer", name)
			}
		}
	}
	if n := len(up.received()); n != 0 {
		t.Errorf("%d requests reached the upstream, want 0", n)
	}
}
