package dataplane

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// attack195: hostile bytes against a chunked body whose trailer section
// ends badly, now decided by the handler after step 1 (reqpath190).

// TestBadTrailerSmugglesNoRequest: a trailer section ending in "\n\n"
// followed by a whole request in the same write gets one 400 and the
// connection closes; the bytes after the bad end are never served.
func TestBadTrailerSmugglesNoRequest(t *testing.T) {
	st, up := startRecorded(t, nil)
	const smuggled = "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nX-Request-ID: smuggled-195\r\n\r\n"
	for _, c := range []struct{ name, req string }{
		{"after LF LF", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\nX-T: 1\n\n" + smuggled},
		{"after LF LF, empty body", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\n" + smuggled},
		{"pipelined second", "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\nPOST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\n" + smuggled},
		{"pipelined after a chunked one", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Ok: 1\r\n\r\nPOST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\n" + smuggled},
		{"Expect, HTTP/1.0", "POST /v1/records HTTP/1.0\r\nHost: svc\r\nConnection: keep-alive\r\nExpect: 100-continue\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\n" + smuggled},
		{"HTTP/1.0", "POST /v1/records HTTP/1.0\r\nHost: svc\r\nConnection: keep-alive\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\n" + smuggled},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := len(up.received())
			out := rawAll(t, st.addr, c.req, 3*time.Second)
			for _, r := range up.received()[n:] {
				if strings.HasPrefix(r.uri, "/v1/users") {
					t.Errorf("the smuggled request reached the service; answers %q", out)
				}
			}
			if strings.Contains(out, "smuggled-195") {
				t.Errorf("the smuggled request was answered: %q", out)
			}
			if n := strings.Count(out, " 400 Bad Request\r\n"); n != 1 {
				t.Errorf("%d answers 400, want one: %q", n, out)
			}
		})
	}
}

// TestBadTrailerFieldsNameNothing: trailer fields fasthttp parses after a
// bad end (read whole, the handler's) do not name the request: its
// request id, User-Agent, source and tenant are the head's.
func TestBadTrailerFieldsNameNothing(t *testing.T) {
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.9/32"} })
	const forged = "X-Request-ID: forged-195\r\nUser-Agent: forged/1\r\nX-Forwarded-For: 203.0.113.99\r\nX-API-Key: " + hrisKey + "\r\nX-Tenant: globex\r\n"
	for _, c := range []struct{ name, req string }{
		{"body", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: head/1\r\nX-Request-ID: head-195\r\nX-API-Key: " + hrisKey + "\r\nX-Forwarded-For: 198.51.100.66\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\nX-T: 1\n\n" + forged + "\r\n"},
		{"no body", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: head/1\r\nX-Request-ID: head-195\r\nX-API-Key: " + hrisKey + "\r\nX-Forwarded-For: 198.51.100.66\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\n" + forged + "\r\n"},
		{"bare LF before fields", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: head/1\r\nX-Request-ID: head-195\r\nX-API-Key: " + hrisKey + "\r\nX-Forwarded-For: 198.51.100.66\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n" + forged + "\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := len(up.received())
			r := proxiedFirstAnswer(t, st.addr, c.req, "")
			if r.status != 400 || r.header.Get("X-Request-Id") != "head-195" {
				t.Fatalf("answer %d %q %q, want 400 under head-195", r.status, r.header, r.body)
			}
			rec := st.sink.withRequestID(t, "head-195")
			if string(rec.UserAgent()) != "head/1" || rec.SourceIP != netip.MustParseAddr("198.51.100.66") || rec.Decision != audit.BadRequest {
				t.Errorf("audited %v User-Agent %q source %v, want bad_request head/1 198.51.100.66", rec.Decision, rec.UserAgent(), rec.SourceIP)
			}
			if got := up.received()[n:]; len(got) != 0 {
				t.Errorf("the service received %d requests", len(got))
			}
		})
	}
}

// TestBadTrailerAfterContinueReadWhole: after 100 Continue, a bad end
// with a CRLF CRLF after it in the same read is refused, and the
// request after it is not served.
func TestBadTrailerAfterContinueReadWhole(t *testing.T) {
	st, up := startRecorded(t, nil)
	head := "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-Request-ID: cont-195\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
	for _, later := range []string{
		"4\r\nbody\r\n0\r\nX-T: 1\n\nAuthorization: Bearer secret195\r\n\r\n",
		"4\r\nbody\r\n0\r\nX-T: 1\n\nX-M: 1\r\n\r\nGET /v1/users HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n\r\n",
	} {
		n := len(up.received())
		r := proxiedFirstAnswer(t, st.addr, head, later)
		if r.status != 400 {
			t.Errorf("answer %d %q, want 400", r.status, r.body)
		}
		if got := up.received()[n:]; len(got) != 0 {
			t.Errorf("the service received %d requests", len(got))
		}
		if strings.Contains(r.body, "secret195") {
			t.Errorf("the answer names the trailer's secret: %q", r.body)
		}
	}
}

// TestBadTrailerFieldsDoNotUnnameTheHead: the trailer fields fasthttp
// parses, before a bad end read whole (the handler's) or in a section
// ending in CRLF CRLF, are the body's: too many names, or a name with a
// space, refuse it 400 but do not have it named as a head step 1 refuses
// (no path, the proxy's address), which the same bad end found by
// errorHandler does not (attack195).
func TestBadTrailerFieldsDoNotUnnameTheHead(t *testing.T) {
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.9/32"} })
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: head/1\r\nX-API-Key: " + hrisKey + "\r\nX-Forwarded-For: 198.51.100.66\r\nTransfer-Encoding: chunked\r\n"
	var many strings.Builder
	for i := range 9 {
		many.WriteString("X-F" + string(rune('a'+i)) + ": 1\r\n")
	}
	for _, c := range []struct{ name, id, trailer string }{
		{"nine names, bad end", "fields-nine", many.String() + "X-T: 1\n\nX-M: 1\r\n\r\n"},
		{"a name with a space, bad end", "fields-space", "X a: 1\r\nX-T: 1\n\nX-M: 1\r\n\r\n"},
		{"nine names", "fields-nine-crlf", many.String() + "\r\n"},
		{"a name with a space", "fields-space-crlf", "X a: 1\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := len(up.received())
			r := proxiedFirstAnswer(t, st.addr, head+"X-Request-ID: "+c.id+"\r\n\r\n4\r\nbody\r\n0\r\n"+c.trailer, "")
			if r.status != 400 || r.header.Get("X-Request-Id") != c.id {
				t.Fatalf("answer %d %q %q, want 400 under %s", r.status, r.header, r.body, c.id)
			}
			rec := st.sink.withRequestID(t, c.id)
			if string(rec.Path()) != "/v1/records" || rec.SourceIP != netip.MustParseAddr("198.51.100.66") {
				t.Errorf("audited path %q source %v, want /v1/records 198.51.100.66", rec.Path(), rec.SourceIP)
			}
			if got := up.received()[n:]; len(got) != 0 {
				t.Errorf("the service received %d requests", len(got))
			}
		})
	}
}

// TestTrailerFieldsNameNothingServed: a request served with trailer
// fields naming another request id, User-Agent, tenant or key is
// recorded and forwarded by its head's. (An X-Forwarded-For trailer is
// refused 400, recorded with the head's path and forwarded source.)
func TestTrailerFieldsNameNothingServed(t *testing.T) {
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.9/32"} })
	const req = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: head/1\r\nX-Request-ID: served-195\r\nX-API-Key: " + hrisKey + "\r\nX-Forwarded-For: 198.51.100.66\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n" +
		"X-Request-ID: forged-195\r\nUser-Agent: forged/1\r\nX-Tenant: globex\r\nX-API-Key: forged\r\n\r\n"
	n := len(up.received())
	r := proxiedFirstAnswer(t, st.addr, req, "")
	if r.status != 200 || r.header.Get("X-Request-Id") != "served-195" {
		t.Fatalf("answer %d %q %q, want 200 under served-195", r.status, r.header, r.body)
	}
	rec := st.sink.withRequestID(t, "served-195")
	if string(rec.UserAgent()) != "head/1" || rec.SourceIP != netip.MustParseAddr("198.51.100.66") || rec.Tenant != "acme" {
		t.Errorf("audited User-Agent %q source %v tenant %q, want head/1 198.51.100.66 acme", rec.UserAgent(), rec.SourceIP, rec.Tenant)
	}
	got := up.only(t, n)
	for _, name := range []string{"x-tenant", "x-api-key"} {
		if vs := got.values(name); len(vs) > 0 {
			t.Errorf("the service received %s %q", name, vs)
		}
	}
	if vs := got.values("x-request-id"); len(vs) != 1 || vs[0] != "served-195" {
		t.Errorf("the service received X-Request-Id %q, want served-195", vs)
	}
	if vs := got.values("user-agent"); len(vs) != 1 || vs[0] != "head/1" {
		t.Errorf("the service received User-Agent %q, want head/1", vs)
	}

	const xffTrailer = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: head/1\r\nX-Request-ID: xff-trailer-195\r\nX-API-Key: " + hrisKey + "\r\nX-Forwarded-For: 198.51.100.66\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n" +
		"X-Forwarded-For: 203.0.113.99\r\n\r\n"
	n = len(up.received())
	if r := proxiedFirstAnswer(t, st.addr, xffTrailer, ""); r.status != 400 || r.header.Get("X-Request-Id") != "xff-trailer-195" {
		t.Fatalf("X-Forwarded-For trailer: answer %d %q %q, want 400 under xff-trailer-195", r.status, r.header, r.body)
	}
	rec = st.sink.withRequestID(t, "xff-trailer-195")
	if string(rec.Path()) != "/v1/records" || rec.SourceIP != netip.MustParseAddr("198.51.100.66") {
		t.Errorf("X-Forwarded-For trailer: audited path %q source %v, want /v1/records 198.51.100.66", rec.Path(), rec.SourceIP)
	}
	if got := up.received()[n:]; len(got) != 0 {
		t.Errorf("X-Forwarded-For trailer: the service received %d requests", len(got))
	}
}
