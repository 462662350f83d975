package dataplane

import (
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// Finding (attack807, req804): a Host, or an absolute target's authority,
// whose port is out of range or not a number (svc:99999999999, svc:-1,
// svc:8a, svc:1:2) went on to the service as sent, to be read there as
// the client's word (a service building links or picking a tenant from
// it, a cache keying on it): validHost checked its bytes only.

// TestHostPortRefused sends, over a real socket to a real upstream,
// requests whose Host (or absolute target) has a port that is no TCP
// port: each is refused 400 bad_request in the JSON error shape, audited
// so, and nothing reaches the upstream. A port in range, an empty one
// (RFC 9110's port is *DIGIT) and none go on with that Host.
func TestHostPortRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	get := func(target, host string) reply {
		t.Helper()
		return raw(t, st.addr, "GET "+target+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\nX-API-Key: "+hrisKey+"\r\n\r\n")
	}
	for _, c := range []struct{ target, host string }{
		{"/v1/users", "svc:99999999999"},
		{"/v1/users", "svc:65536"},
		{"/v1/users", "svc:-1"},
		{"/v1/users", "svc:8a"},
		{"/v1/users", "svc:80:80"},
		{"/v1/users", "svc::80"},
		{"/v1/users", "svc:+80"},
		{"http://svc:99999999999/v1/users", "svc"},
		{"http://svc:8a/v1/users", "svc"},
	} {
		n := len(rec.received())
		r := get(c.target, c.host)
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("GET %s with Host %q: %d, the upstream got %d request(s); want 400 and nothing forwarded", c.target, c.host, r.status, len(got))
			continue
		}
		if e := r.errorBody(t); e.Error != "bad_request" {
			t.Errorf("GET %s with Host %q: error %q, want bad_request", c.target, c.host, e.Error)
		}
		if rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rr.Decision != audit.BadRequest {
			t.Errorf("GET %s with Host %q: audited %q, want bad_request", c.target, c.host, rr.Decision)
		}
	}
	for _, host := range []string{"svc", "svc:8080", "svc:65535", "svc:0", "svc:", "10.0.0.1:443"} {
		n := len(rec.received())
		r := get("/v1/users", host)
		got := rec.received()[n:]
		if r.status != 200 || len(got) != 1 {
			t.Errorf("GET /v1/users with Host %q: %d %s, the upstream got %d request(s); want 200 and the request forwarded", host, r.status, r.body, len(got))
			continue
		}
		if h := got[0].host; h != host {
			t.Errorf("GET /v1/users with Host %q: the upstream got Host %q", host, h)
		}
	}
}

// Finding (attack811, fixed req805): a port in range written with leading
// zeros (svc:00080) went on as sent. RFC 9110's port is *DIGIT, but a
// parser that reads a leading 0 as octal (C's strtol with base 0) takes
// 010 for 8, so the sidecar and the service could read two ports from one
// Host. Browsers (the WHATWG URL serializer) and curl (it writes the port
// it parsed) never send them; Go's client sends the URL's authority as
// written. A port of more than one digit starting with 0 is refused now,
// 400 bad_request in the JSON error shape, audited so, nothing forwarded;
// "svc:0" is still a port.
func TestHostPortLeadingZerosRefused(t *testing.T) {
	st, rec := startRecorded(t, nil)
	get := func(target, host string) reply {
		t.Helper()
		return raw(t, st.addr, "GET "+target+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\nX-API-Key: "+hrisKey+"\r\n\r\n")
	}
	for _, c := range []struct{ target, host string }{
		{"/v1/users", "svc:00080"},
		{"/v1/users", "svc:080"},
		{"/v1/users", "svc:00"},
		{"/v1/users", "svc:065535"},
		{"http://svc:00080/v1/users", "svc:00080"},
		{"http://svc:0443/v1/users", "svc:0443"},
	} {
		n := len(rec.received())
		r := get(c.target, c.host)
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("GET %s with Host %q: %d, the upstream got %d request(s); want 400 and nothing forwarded", c.target, c.host, r.status, len(got))
			continue
		}
		if e := r.errorBody(t); e.Error != "bad_request" {
			t.Errorf("GET %s with Host %q: error %q, want bad_request", c.target, c.host, e.Error)
		}
		if rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rr.Decision != audit.BadRequest {
			t.Errorf("GET %s with Host %q: audited %q, want bad_request", c.target, c.host, rr.Decision)
		}
	}
	n := len(rec.received())
	if r := get("/v1/users", "svc:0"); r.status != 200 || len(rec.received()) != n+1 {
		t.Errorf("GET /v1/users with Host svc:0: %d, want 200 and the request forwarded", r.status)
	}
}
