package dataplane

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// Every Connection line of a request counts, and every name of each
// line's list: only the first line's names were removed, so
// "Connection: keep-alive" followed by "Connection: X-Hop" forwarded
// X-Hop, a header the client declared hop-by-hop, to the service.
func TestConnectionEveryLineHopByHop(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	for i, conn := range []string{
		"Connection: keep-alive\r\nConnection: X-Hop, X-Other\r\n",
		"Connection: keep-alive\r\nconnection: x-other, X-HOP\r\n",
		"Connection: X-Other\r\nX-Pad: 1\r\nCONNECTION: ,, X-Hop ,\r\n",
		"Connection: X-Hop, X-Other\r\n",
	} {
		n := len(up.received())
		req := "GET /v1/status HTTP/1.1\r\nHost: svc\r\nX-Hop: 1\r\nX-Other: 2\r\nX-Keep: 3\r\n" + conn + "\r\n"
		if r := raw(t, st.addr, req); r.status != 200 {
			t.Fatalf("%d: status %d, want 200", i, r.status)
		}
		got := up.only(t, n)
		for _, name := range []string{"X-Hop", "X-Other", "Connection"} {
			if v := got.header.Values(name); len(v) > 0 {
				t.Errorf("%d %q: the upstream got %s %q, listed hop-by-hop", i, strings.TrimSpace(conn), name, v)
			}
		}
		if got.header.Get("X-Keep") != "3" {
			t.Errorf("%d: the upstream lost X-Keep, which no Connection line listed", i)
		}
	}
}

// A request head whose empty line is not CRLF CRLF (bare LF line endings)
// is a prompt 400 in the JSON shape, audited bad_request, and never
// reaches the service. fasthttp (v1.74.0) finds such a head's end but
// parses its fields only up to a CRLF CRLF, so it waited for more bytes
// until the header timeout (a minute here: the client would have given
// up long before); with a CRLF CRLF later in the stream it took the head
// as ending at the bare one instead.
func TestBareLFHeadRefusedAtOnce(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, func(c *Config) { c.HeaderTimeout = time.Minute })
	for _, req := range []string{
		"GET /v1/status HTTP/1.1\nHost: svc\n\n",
		"GET /v1/status HTTP/1.1\r\nHost: svc\n\n",
		"GET /v1/status HTTP/1.1\r\nHost: svc\r\n\n",
		"GET /v1/status HTTP/1.1\r\nHost: svc\n\r\n",
		"\r\nGET /v1/status HTTP/1.0\n\n",
		"GET /v1/status HTTP/1.1\r\nHost: svc\n\nGET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n",
	} {
		n := len(st.sink.all())
		r := raw(t, st.addr, req)
		if r.status != 400 {
			t.Errorf("%q: status %d, want 400", req, r.status)
			continue
		}
		if e := r.errorBody(t); e.Error != "bad_request" {
			t.Errorf("%q: error %q, want bad_request", req, e.Error)
		}
		recs := st.sink.all()
		if len(recs) != n+1 || recs[n].Decision != audit.BadRequest {
			t.Errorf("%q: %d new audit records, want one bad_request", req, len(recs)-n)
		}
	}
	if got := up.received(); len(got) != 0 {
		t.Fatalf("the service received %d requests, want none", len(got))
	}
	// Bare LF ends of lines within a head that ends in CRLF CRLF still
	// pass, as RFC 9112 section 2.2 allows, and so do pipelined requests
	// whose bodies hold empty lines of any kind.
	if r := raw(t, st.addr, "GET /v1/status HTTP/1.1\nHost: svc\r\n\r\n"); r.status != 200 {
		t.Fatalf("a head ending in CRLF CRLF: status %d, want 200", r.status)
	}
	body := "a\n\nb\r\n\nGET / HTTP/1.1\n\n"
	post := "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	rs := rawAll(t, st.addr, post+post+strings.Replace(post, "Host: svc", "Host: svc\r\nConnection: close", 1), 10*time.Second)
	if strings.Count(rs, "HTTP/1.1 ") != 3 || strings.Count(rs, " 400 ") != 0 {
		t.Fatalf("three pipelined requests with bodies got %q", rs)
	}
}

// A head that ends badly is refused also when it comes pipelined behind
// another request, in the same read: headScan follows a connection's
// bytes only from a request's hand-over, so the head fasthttp had already
// buffered was never seen by it, and a second request ending "\n\n" was
// served (found by an outside review). The raw header block of every
// request is checked for its CRLF CRLF end as well.
func TestBareLFHeadPipelinedRefused(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	first := "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n"
	for _, end := range []string{"\n\n", "\r\n\n", "\n\r\n"} {
		n, recs := len(up.received()), len(st.sink.all())
		second := "GET /v1/status HTTP/1.1\r\nHost: svc" + end + "X-Smuggled: 1\r\nConnection: close\r\n\r\n"
		rs := rawAll(t, st.addr, first+second, 10*time.Second)
		if strings.Count(rs, "HTTP/1.1 200 ") != 1 || strings.Count(rs, "HTTP/1.1 400 ") != 1 || strings.Count(rs, "HTTP/1.1 ") != 2 {
			t.Errorf("%q: answers %q, want one 200 and then one 400", end, rs)
		}
		if got := up.received(); len(got) != n+1 {
			t.Errorf("%q: the service received %d requests, want only the first", end, len(got)-n)
		}
		if all := st.sink.all(); len(all) != recs+2 || all[recs+1].Decision != audit.BadRequest {
			t.Errorf("%q: %d new audit records, want the first and a bad_request", end, len(all)-recs)
		}
	}
}

func (m *memSink) all() []audit.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Record(nil), m.recs...)
}

// headScan reads a head the same however the reads split it, and stops
// at a first line that is no request line (the rest of a pipelined
// request fasthttp had buffered), so a body is never taken for a head.
func TestHeadScanSplits(t *testing.T) {
	for _, c := range []struct {
		in  string
		bad bool
	}{
		{"GET / HTTP/1.1\nHost: a\n\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\n\n", true},
		{"GET / HTTP/1.1\r\nHost: a\n\r\n", true},
		{"\n\r\nGET / HTTP/1.0\r\n\n", true},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody\n\n", false},
		{"GET / HTTP/1.1\nHost: a\r\n\r\n", false},
		{"GET / HTTP/1.0\r\n\r\n", false},
		{"abc\n\nGET / HTTP/1.1\n\n", false}, // a body: no request line first
		{"Host: a\n\n", false},
	} {
		for _, step := range []int{1, 2, 3, 7, len(c.in)} {
			s := headScan{headState: headState{on: true}}
			bad := false
			for p := c.in; len(p) > 0 && !bad; {
				k := min(step, len(p))
				bad, p = s.feed([]byte(p[:k])), p[k:]
			}
			if bad != c.bad {
				t.Errorf("%q in reads of %d: bad %v, want %v", c.in, step, bad, c.bad)
			}
		}
	}
}

// A header name with a byte that is neither a letter, a digit nor '-' is
// refused, as one with '_' was: CGI-style gateways (lighttpd's CGI,
// FastCGI and SCGI, for PHP among others) turn every such byte into '_'
// (HTTP_X_PORTCULLIS_TENANT), so "X.Portcullis.Tenant: globex" reached
// the service beside the sidecar's own X-Portcullis-Tenant as the same
// variable, and "X~Forwarded~For" beside its X-Forwarded-For.
func TestHeaderNameLookalikesRefused(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	st.store.Swap(withoutLimits(t, loadExample(t)))
	for _, name := range []string{
		"X.Portcullis.Tenant", "X-Portcullis.Tenant", "X!Portcullis-Client", "x~portcullis~scopes",
		"X.Forwarded.For", "X|Request|Id", "X.Real.IP", "X'API'Key", "X*Portcullis*Key*Id",
		"X#Portcullis#Auth#Method", "X$Portcullis$Tenant", "X%Portcullis%Tenant", "X&Portcullis&Tenant",
		"X+Portcullis+Tenant", "X^Portcullis^Tenant", "X`Portcullis`Tenant",
	} {
		r := raw(t, st.addr, "GET /v1/users HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+"\r\n"+name+": globex\r\n\r\n")
		if r.status != 400 {
			t.Errorf("%s: status %d, want 400", name, r.status)
			continue
		}
		if e := r.errorBody(t); e.Error != "bad_request" {
			t.Errorf("%s: error %q, want bad_request", name, e.Error)
		}
	}
	if got := up.received(); len(got) != 0 {
		t.Fatalf("the service received %d requests, want none", len(got))
	}
	if r := do(t, st.addr, "GET", "/v1/users", map[string]string{"X-API-Key": hrisKey, "X-Custom-Header-2": "1"}, ""); r.status != 200 {
		t.Fatalf("an ordinary name: status %d, want 200", r.status)
	}
}

// A pipelined HTTP/1.0 request line with no header lines at all, ending
// in a bare LF empty line ("\n\n", "\r\n\n", "\n\r\n"), is refused like
// any other head that ends badly. fasthttp (v1.74.0, readRawHeaders)
// takes the first '\n' after the request line, alone or after a '\r', as
// an empty header block, so crlfEnd had no line of its own to check and
// the request was served: with "\n\n" once more bytes came, which it
// swallowed (a whole next request, here a forged header line). fasthttp
// keeps nothing of how such a head ended, so a request without any header
// line is refused, pipelined or not. An HTTP/0.9-style line without a
// version is refused by fasthttp itself.
func TestHeaderlessRequestRefused(t *testing.T) {
	t.Parallel()
	st, up := startRecorded(t, nil)
	first := "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n"
	for _, second := range []string{
		"GET /v1/status HTTP/1.0\n\n",
		"GET /v1/status HTTP/1.0\r\n\n",
		"GET /v1/status HTTP/1.0\n\r\n",
		"GET /v1/status HTTP/1.0\r\n\r\n",
		"GET /v1/status\r\n\r\n",
		"GET /v1/status\n\n",
	} {
		n, recs := len(up.received()), len(st.sink.all())
		rs := rawAll(t, st.addr, first+second+"X-Smuggled: 1\r\n\r\n", 10*time.Second)
		if strings.Count(rs, "HTTP/1.1 200 ") != 1 || strings.Count(rs, "HTTP/1.1 400 ") != 1 || strings.Count(rs, "HTTP/1.1 ") != 2 {
			t.Errorf("%q pipelined: answers %q, want one 200 and then one 400", second, rs)
		}
		if got := up.received(); len(got) != n+1 {
			t.Errorf("%q pipelined: the service received %d requests, want only the first", second, len(got)-n)
		}
		if strings.Contains(second, "HTTP/1.0") {
			if all := st.sink.all(); len(all) != recs+2 || all[recs+1].Decision != audit.BadRequest {
				t.Errorf("%q pipelined: %d new audit records, want the first and a bad_request", second, len(all)-recs)
			}
		}
	}
	n := len(up.received())
	if r := raw(t, st.addr, "GET /v1/status HTTP/1.0\r\n\r\n"); r.status != 400 {
		t.Errorf("an HTTP/1.0 request line alone: status %d, want 400", r.status)
	}
	if got := up.received(); len(got) != n {
		t.Errorf("the service received %d headerless requests, want none", len(got)-n)
	}
	// With a header line, an HTTP/1.0 request is served, pipelined too.
	if rs := rawAll(t, st.addr, first+"GET /v1/status HTTP/1.0\r\nHost: svc\r\n\r\n", 10*time.Second); strings.Count(rs, " 200 ") != 2 {
		t.Errorf("HTTP/1.0 with a header line, pipelined: answers %q, want two 200s", rs)
	}
}
