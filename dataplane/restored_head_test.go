package dataplane

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
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
//
// So does every other body such a head comes with (reqpath190): a
// chunked one within 16 KiB, which the check before the body refuses
// (headRefused) and the handler reads whole, was recorded by the handler
// with the proxy's address, as a request that ended badly (badEnd), and
// so were a chunked one past 16 KiB (its head reset) and a declared one
// past 16 KiB (its head kept), which errorHandler answers.
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
			for _, b := range []struct{ name, head, body string }{
				{"stalled", "Content-Length: 100\r\n", "{"},
				{"small chunked", "Transfer-Encoding: chunked\r\n", "4\r\nbody\r\n0\r\n\r\n"},
				{"chunked past 16 KiB", "Transfer-Encoding: chunked\r\n", "4e20\r\n" + strings.Repeat("x", 20000) + "\r\n0\r\n\r\n"},
				{"declared past 16 KiB", "Content-Length: 20000\r\n", ""},
			} {
				if c.version != "HTTP/1.1" && b.name != "stalled" {
					continue // chunked coding is HTTP/1.1's
				}
				bid := id + "-" + strings.ReplaceAll(b.name, " ", "-")
				r := proxiedFirstAnswer(t, st.addr, head(bid, b.head)+b.body, "")
				if r.status != 400 {
					t.Fatalf("%s: answer %d %q, want 400", b.name, r.status, r.body)
				}
				if got := r.errorBody(t).RequestID; got != bid {
					t.Errorf("%s: answered under request id %q, want the client's", b.name, got)
				}
				got := st.sink.withRequestID(t, bid)
				if got.SourceIP != want.SourceIP {
					t.Errorf("%s: audited source %v, the handler's record of the same head without a body %v", b.name, got.SourceIP, want.SourceIP)
				}
				if string(got.Path()) != string(want.Path()) {
					t.Errorf("%s: audited path %q, the handler's record of the same head without a body %q", b.name, got.Path(), want.Path())
				}
			}
		})
	}
}

// TestOversizeChunkedBadTrailerKeepsNames: a chunked body past its
// class's max_body whose trailer section ended badly in the bytes read
// with its head (followBody marks the connection refused, so the check
// before the body keeps no names: preDecide) is refused by fasthttp with
// ErrBodyTooLarge after it reset the head. It was recorded as "GET -"
// under a request id the sidecar made, no User-Agent; the same head with
// a body that fits is recorded with its names (restored, headNames), and
// so is this one; with its path, since a trailer section that ended badly
// is its body's failure, not its head's (TestBadTrailerNamesTheHead).
func TestOversizeChunkedBadTrailerKeepsNames(t *testing.T) {
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, smallerClass)
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: big/1\r\nX-Request-ID: oversize-bad-trailer\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n"
	r := firstAnswer(t, st.addr, head+"64\r\n"+strings.Repeat("x", 100)+"\r\n0\r\n\n", "")
	if r.status != 400 {
		t.Fatalf("answer %d %q, want 400", r.status, r.body)
	}
	if got := r.errorBody(t).RequestID; got != "oversize-bad-trailer" {
		t.Errorf("answered under request id %q, want the client's", got)
	}
	rec := st.sink.withRequestID(t, "oversize-bad-trailer")
	if string(rec.Method()) != "POST" || string(rec.Path()) != "/v1/records" || string(rec.UserAgent()) != "big/1" {
		t.Errorf("recorded %q %q, User-Agent %q; want POST /v1/records, big/1", rec.Method(), rec.Path(), rec.UserAgent())
	}
	if got := up.received(); len(got) != 0 {
		t.Errorf("the service received %d requests, want none", len(got))
	}
}

// TestRestoredHeadWithBadTrailerNamesTheSource: a request whose chunked
// body's trailer section ends in a bare LF, read with its head
// (refusalTrailer), is refused for its body, not its head: behind a
// trusted proxy its record names the X-Forwarded-For client, as a body
// failing in its chunk size does (TestBadTrailerNamesTheHead). It was
// TestRestoredBadTrailerHeadSourceIsTheProxys (reqhead177), which took
// the trailer for the head's end (requestHeaders.badEnd) and wanted the
// proxy's address.
func TestRestoredHeadWithBadTrailerNamesTheSource(t *testing.T) {
	st, _ := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) {
		d.TrustedProxies = []string{"127.0.0.9/32"}
		smallerClass(d)
	})
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-Request-ID: bad-trailer-proxied\r\nX-API-Key: " + hrisKey + "\r\nX-Forwarded-For: 198.51.100.66\r\nTransfer-Encoding: chunked\r\n\r\n"
	r := proxiedFirstAnswer(t, st.addr, head+"64\r\n"+strings.Repeat("x", 100)+"\r\n0\r\n\n", "")
	if r.status != 400 {
		t.Fatalf("answer %d %q, want 400", r.status, r.body)
	}
	if got, want := st.sink.withRequestID(t, "bad-trailer-proxied").SourceIP, netip.MustParseAddr("198.51.100.66"); got != want {
		t.Errorf("audited source %v for a request whose trailer section ended badly, want the forwarded client %v", got, want)
	}
}

// smallerClass sets the max_body of the standard class, /v1/records',
// to 64 bytes.
func smallerClass(d *policy.Document) {
	for i := range d.Classes {
		if d.Classes[i].Name == "standard" {
			d.Classes[i].MaxBody = "64B"
		}
	}
}

// TestChunkedOverLimitBadTrailerAfterContinueKeepsNames: a chunked body
// the check before it passed (refusalSize), sent after 100 Continue,
// past its class's max_body and with a trailer section ending in a bare
// LF read with it (conn.refused), is refused by fasthttp with
// ErrBodyTooLarge after it reset the head. errorHandler named such a
// body by what that check kept only when the connection was not marked
// refused, so it was answered under a request id the sidecar made and
// recorded as "GET -", no User-Agent; the names come from one place now
// (headNames), whatever that check kept, the path too
// (TestBadTrailerNamesTheHead).
func TestChunkedOverLimitBadTrailerAfterContinueKeepsNames(t *testing.T) {
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, smallerClass)
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: late/1\r\nX-Request-ID: late-bad-trailer\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n"
	_, r := sendChunked(t, st.addr, head, "64\r\n"+strings.Repeat("x", 100)+"\r\n0\r\n\n", true)
	if r.status != 400 {
		t.Fatalf("answer %d %q, want 400", r.status, r.body)
	}
	if got := r.errorBody(t).RequestID; got != "late-bad-trailer" {
		t.Errorf("answered under request id %q, want the client's", got)
	}
	rec := st.sink.withRequestID(t, "late-bad-trailer")
	if string(rec.Method()) != "POST" || string(rec.Path()) != "/v1/records" || string(rec.UserAgent()) != "late/1" {
		t.Errorf("recorded %q %q, User-Agent %q; want POST /v1/records, late/1", rec.Method(), rec.Path(), rec.UserAgent())
	}
	if got := up.received(); len(got) != 0 {
		t.Errorf("the service received %d requests, want none", len(got))
	}
}

// TestEndedBadlyHeadKeepsRequestID: a request refused as ended badly is
// answered and recorded under the client's request id whichever entry
// point decides it. A head whose own end was bad ("\r\n\n" before more
// lines), pipelined behind a request so that fasthttp parsed it from its
// buffer, came to the handler without a body, which read none of its
// lines (requestHeaders.badEnd) and made an id; with a body, whose read
// then failed, to errorHandler, which restored its names (headNames) and
// kept the client's: two ids for one head. Both read it from the one pass
// over the header block, as decide does for any head step 1 refuses.
func TestEndedBadlyHeadKeepsRequestID(t *testing.T) {
	st, up := startRecorded(t, nil)
	const first = "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n"
	for _, c := range []struct{ name, cl, body string }{
		{"no body (handler)", "", ""},
		{"a body read whole (handler)", "Content-Length: 5\r\n", "12345"},
		{"a body short of its length (restored)", "Content-Length: 100\r\n", "12345"},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := "ended-badly-" + strings.NewReplacer(" ", "-", "(", "", ")", "").Replace(c.name)
			second := "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: bad-end/1\r\nX-Request-ID: " + id + "\r\nX-API-Key: " + hrisKey + "\r\n" + c.cl + "\nX-After: 1\r\n\r\n" + c.body
			rs := rawAll(t, st.addr, first+second, 10*time.Second)
			i := strings.Index(rs, "HTTP/1.1 400 ")
			if strings.Count(rs, "HTTP/1.1 200 ") != 1 || i < 0 || strings.Count(rs, "HTTP/1.1 ") != 2 {
				t.Fatalf("answers %q, want one 200 and then one 400", rs)
			}
			if !strings.Contains(rs[i:], `"request_id":"`+id+`"`) {
				t.Errorf("the 400 %q is not under the client's request id %q", rs[i:], id)
			}
			rec := st.sink.withRequestID(t, id)
			if rec.Decision != audit.BadRequest || string(rec.Method()) != "POST" || string(rec.Path()) != "-" || string(rec.UserAgent()) != "bad-end/1" {
				t.Errorf("audited %v %q %q User-Agent %q, want bad_request POST - bad-end/1", rec.Decision, rec.Method(), rec.Path(), rec.UserAgent())
			}
		})
	}
	if got := up.received(); len(got) != 3 {
		t.Errorf("the service received %d requests, want the three first ones", len(got))
	}
}

// panicOnceSink is memSink whose Accepting panics once after armed: the
// policy's strict audit mode asks it in the check before the body
// (beforeCredential), so the header hook panics there, after it kept the
// head's names (followBody). A fake for a broken sink, as panicSink is.
type panicOnceSink struct {
	memSink
	armed atomic.Bool
}

func (p *panicOnceSink) Accepting() bool {
	if p.armed.CompareAndSwap(true, false) {
		panic("accepting exploded")
	}
	return true
}

// TestHeaderHookPanicKeepsRestoredPath: a chunked body whose header hook
// panicked after followBody kept its head's names has its body refused
// past one byte (headerPanicked), and comes to errorHandler with its
// head reset. The record named the method, the User-Agent and the request
// id restored (headNames) but the path "/", the reset head's, and the
// route of "POST /" (bodyRefused, routeForAudit): the path is the one the
// rest of the restored head's code names, and the route the one it
// names.
func TestHeaderHookPanicKeepsRestoredPath(t *testing.T) {
	sink := &panicOnceSink{}
	st, up := startRecorded(t, func(c *Config) { c.Audit = sink })
	swapDoc(t, st.store, func(d *policy.Document) {
		d.Audit.Mode = "strict"
		d.Routes = append(d.Routes, policy.RouteSpec{Method: "POST", Path: "/", Class: "standard", Scopes: []string{"write:records"}})
	})
	sink.armed.Store(true)
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: hook/1\r\nX-Request-ID: hook-panicked\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n"
	r := firstAnswer(t, st.addr, head+"64\r\n"+strings.Repeat("x", 100)+"\r\n0\r\n\r\n", "")
	if sink.armed.Load() {
		t.Fatal("the header hook never asked the sink")
	}
	if r.status != 413 || r.errorBody(t).RequestID != "hook-panicked" {
		t.Fatalf("answer %d %q, want 413 under the client's request id", r.status, r.body)
	}
	rec := sink.withRequestID(t, "hook-panicked")
	if string(rec.Method()) != "POST" || string(rec.Path()) != "/v1/records" || rec.Route != "/v1/records" || string(rec.UserAgent()) != "hook/1" {
		t.Errorf("recorded %q %q route %q User-Agent %q; want POST /v1/records, route /v1/records, hook/1", rec.Method(), rec.Path(), rec.Route, rec.UserAgent())
	}
	if got := up.received(); len(got) != 0 {
		t.Errorf("the service received %d requests, want none", len(got))
	}
}

// TestBadTrailerNamesTheHead: a chunked body whose trailer section ends
// in a bare LF is refused 400 in the JSON error shape and recorded with
// its head's names, behind a trusted proxy the X-Forwarded-For client,
// wherever the bad end is found: in a read after its head's (after 100
// Continue, the check before the body having passed it,
// refusalSize), in the read of its head (followBody), or with a CRLF
// CRLF after it in the same read, so that fasthttp takes what follows for
// trailer fields and hands the request to the handler. A chunk size that
// is not hex, the same head's body failing otherwise, is recorded so
// (TestChunkedBadFramingRecordNamesTheRequest). The bad end was taken for
// the head's (conn.refused, requestHeaders.badEnd): no path and the
// proxy's address, so that a client behind a shared proxy chose, by how
// it ended its trailer section, to be named by the proxy, not by the
// address the check before the body charged its token to; and the
// handler's record of the same request read whole named the proxy too.
// A head step 1 refuses (X-Forwarded-For beside Forwarded) is named as
// step 1 names it: no source, no path.
func TestBadTrailerNamesTheHead(t *testing.T) {
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.9/32"} })
	head := func(id, fwd string) string {
		return "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: trailer/2\r\nX-Request-ID: " + id + "\r\nX-API-Key: " + hrisKey + "\r\n" + fwd + "Transfer-Encoding: chunked\r\n"
	}
	const xff = "X-Forwarded-For: 198.51.100.66\r\n"
	const body = "4\r\nbody\r\n0\r\nX-Trailer: 1\n"
	for _, c := range []struct{ name, id, req, later, path, source string }{
		{"after 100 Continue", "trailer-later", head("trailer-later", xff) + "Expect: 100-continue\r\n\r\n", body + "\n", "/v1/records", "198.51.100.66"},
		{"read with the head", "trailer-early", head("trailer-early", xff) + "\r\n" + body + "\n", "", "/v1/records", "198.51.100.66"},
		{"read whole (handler)", "trailer-whole", head("trailer-whole", xff) + "\r\n" + body + "\nX-More: 1\r\n\r\n", "", "/v1/records", "198.51.100.66"},
		{"empty, read whole (handler)", "trailer-empty", head("trailer-empty", xff) + "\r\n0\r\nX-Trailer: 1\n\nX-More: 1\r\n\r\n", "", "/v1/records", "198.51.100.66"},
		{"head refused, read whole (handler)", "trailer-refused", head("trailer-refused", xff+"Forwarded: for=198.51.100.7\r\n") + "\r\n" + body + "\nX-More: 1\r\n\r\n", "", "-", ""},
		{"head refused, read with the head", "trailer-refused-early", head("trailer-refused-early", xff+"Forwarded: for=198.51.100.7\r\n") + "\r\n" + body + "\n", "", "-", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := proxiedFirstAnswer(t, st.addr, c.req, c.later)
			if r.status != 400 || r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Request-Id") != c.id {
				t.Fatalf("answer %d %q %q, want 400 application/json under the client's request id", r.status, r.header, r.body)
			}
			if e := r.errorBody(t); e.Error != "bad_request" || e.RequestID != c.id {
				t.Errorf("answered %+v, want bad_request under %q", e, c.id)
			}
			rec := st.sink.withRequestID(t, c.id)
			if rec.Decision != audit.BadRequest || string(rec.Method()) != "POST" || string(rec.Path()) != c.path || string(rec.UserAgent()) != "trailer/2" {
				t.Errorf("audited %v %q %q User-Agent %q, want bad_request POST %s trailer/2", rec.Decision, rec.Method(), rec.Path(), rec.UserAgent(), c.path)
			}
			var want netip.Addr
			if c.source != "" {
				want = netip.MustParseAddr(c.source)
			}
			if rec.SourceIP != want {
				t.Errorf("audited source %v, want %v", rec.SourceIP, want)
			}
		})
	}
	if got := up.received(); len(got) != 0 {
		t.Errorf("the service received %d requests, want none", len(got))
	}
}
