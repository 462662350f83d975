package dataplane

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
)

// refusal201: the refusals of the check before the body, one kind each
// (refusal), against hostile bytes over a real socket.

// TestCookieRefusalWithBadTrailerNamesTheCookie: a head refused for a
// cookie of refuse_cookies whose chunked body's trailer section also
// ends badly is answered and recorded as the same head refused without
// a body is: 400 naming the cookie, never its value, the record's
// request id, path and source the plain refusal's.
func TestCookieRefusalWithBadTrailerNamesTheCookie(t *testing.T) {
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.RefuseCookies = []string{"PHPSESSID"} })
	head := func(id string) string {
		return "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-Request-ID: " + id + "\r\nX-API-Key: " + hrisKey + "\r\nCookie: PHPSESSID=" + cookieValue + "\r\n"
	}
	plain := firstAnswer(t, st.addr, head("cookie-plain")+"\r\n", "")
	want := st.sink.withRequestID(t, "cookie-plain")
	if plain.status != 400 || !strings.Contains(plain.errorBody(t).Message, "cookie PHPSESSID ") {
		t.Fatalf("the plain refusal: %d %q, want 400 naming the cookie", plain.status, plain.body)
	}
	for _, c := range []struct{ name, body string }{
		{"read with the head", "4\r\nbody\r\n0\r\nX-T: 1\n\n"},
		{"read whole (handler)", "4\r\nbody\r\n0\r\nX-T: 1\n\nX-More: 1\r\n\r\n"},
		{"empty, read whole (handler)", "0\r\nX-T: 1\n\nX-More: 1\r\n\r\n"},
		{"empty, read with the head", "0\r\nX-T: 1\n\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := "cookie-" + strings.NewReplacer(" ", "-", "(", "", ")", "", ",", "").Replace(c.name)
			n := len(up.received())
			r := firstAnswer(t, st.addr, head(id)+"Transfer-Encoding: chunked\r\n\r\n"+c.body, "")
			if r.status != 400 || !strings.Contains(r.errorBody(t).Message, "cookie PHPSESSID ") || strings.Contains(r.body, cookieValue) {
				t.Errorf("answer %d %q, want 400 naming the cookie PHPSESSID, as the plain refusal %q", r.status, r.body, plain.body)
			}
			got := st.sink.withRequestID(t, id)
			if got.Decision != want.Decision || string(got.Path()) != string(want.Path()) || got.SourceIP != want.SourceIP || got.Route != want.Route {
				t.Errorf("audited %v %q route %q source %v, the plain refusal's %v %q route %q source %v",
					got.Decision, got.Path(), got.Route, got.SourceIP, want.Decision, want.Path(), want.Route, want.SourceIP)
			}
			if len(up.received()[n:]) != 0 {
				t.Error("the service received the request")
			}
		})
	}
}

// TestRestoredBadRequestNamesTheRoute: a request whose body fails after
// its head passed step 1 (a chunk size that is not hex, a body that
// stalls, a trailer section that ends badly) is recorded with the route
// its head names, as the handler's record of the same head names it.
func TestRestoredBadRequestNamesTheRoute(t *testing.T) {
	st, _ := startRecorded(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	const head = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n"
	ref := firstAnswer(t, st.addr, head+"X-Request-ID: route-ref\r\nContent-Length: 2\r\n\r\n{}", "")
	want := st.sink.withRequestID(t, "route-ref").Route
	if ref.status != 200 || want != "/v1/records" {
		t.Fatalf("the handler's answer %d, route %q; want 200 on /v1/records", ref.status, want)
	}
	for _, c := range []struct{ name, head, body string }{
		{"bad framing", "Transfer-Encoding: chunked\r\n", "zz\r\nbody\r\n0\r\n\r\n"},
		{"stalled", "Content-Length: 100\r\n", "{"},
		{"stalled chunked", "Transfer-Encoding: chunked\r\n", "64\r\n{"},
		{"bad trailer", "Transfer-Encoding: chunked\r\n", "4\r\nbody\r\n0\r\nX-T: 1\n\n"},
		{"bad trailer, read whole (handler)", "Transfer-Encoding: chunked\r\n", "4\r\nbody\r\n0\r\nX-T: 1\n\nX-M: 1\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := "route-" + strings.NewReplacer(" ", "-", "(", "", ")", "", ",", "").Replace(c.name)
			r := firstAnswer(t, st.addr, head+"X-Request-ID: "+id+"\r\n"+c.head+"\r\n"+c.body, "")
			if r.status != 400 {
				t.Fatalf("answer %d %q, want 400", r.status, r.body)
			}
			if got := st.sink.withRequestID(t, id); got.Route != want || string(got.Path()) != "/v1/records" {
				t.Errorf("audited route %q path %q, want the handler's %q, /v1/records", got.Route, got.Path(), want)
			}
		})
	}
}

// TestFramingFailureWithoutPolicyIs400: with no policy loaded, a request
// whose trailer section or head ends badly is answered 400 bad_request,
// whichever entry point finds it (the handler for one read whole,
// errorHandler for one whose read failed): the bytes are the client's
// fault, which no policy loaded later would make right. The handler
// answered one read whole 503 not_ready.
func TestFramingFailureWithoutPolicyIs400(t *testing.T) {
	st, up := startRecorded(t, func(c *Config) { c.Store = &policy.Store{} })
	for _, c := range []struct{ name, req string }{
		{"bad trailer, read with the head", r36chunked("4\r\nbody\r\n0\r\nX-T: 1\n\n")},
		{"bad trailer, read whole (handler)", r36chunked("4\r\nbody\r\n0\r\nX-T: 1\n\nX-M: 1\r\n\r\n")},
		{"empty, bad trailer, read whole (handler)", r36chunked("0\r\nX-T: 1\n\nX-M: 1\r\n\r\n")},
		{"bad framing", r36chunked("zz\r\nbody\r\n0\r\n\r\n")},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := firstAnswer(t, st.addr, c.req, "")
			if r.status != 400 || r.errorBody(t).Error != "bad_request" {
				t.Errorf("answer %d %q, want 400 bad_request", r.status, r.body)
			}
			id := r.errorBody(t).RequestID
			if got := st.sink.withRequestID(t, id); got.Decision != audit.BadRequest {
				t.Errorf("audited %v, want bad_request", got.Decision)
			}
		})
	}
	if r := firstAnswer(t, st.addr, r36sized("{}"), ""); r.status != 503 {
		t.Errorf("a well-framed request with no policy: %d, want 503", r.status)
	}
	if got := up.received(); len(got) != 0 {
		t.Errorf("the service received %d requests, want none", len(got))
	}
}

// TestPipelinedBadHeadAfterBadTrailerForwardsNothing: a chunked body
// whose trailer section ends badly, followed in the same write by a
// request whose head ends badly (and one whose head is well formed after
// it), gets one 400, for the first request, recorded with its own names;
// nothing reaches the service and the requests after it are neither
// answered nor recorded.
func TestPipelinedBadHeadAfterBadTrailerForwardsNothing(t *testing.T) {
	st, up := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.9/32"} })
	const first = "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: first/1\r\nX-Request-ID: pipe-first\r\nX-API-Key: " + hrisKey + "\r\nTransfer-Encoding: chunked\r\n\r\n"
	const next = "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-Request-ID: pipe-next\r\nX-API-Key: " + hrisKey + "\r\n\nX-After: 1\r\n\r\n"
	const after = "GET /v1/users HTTP/1.1\r\nHost: svc\r\nX-Request-ID: pipe-after\r\nX-API-Key: " + hrisKey + "\r\n\r\n"
	for _, c := range []struct{ name, req string }{
		{"LF LF", first + "4\r\nbody\r\n0\r\nX-T: 1\n\n" + next + after},
		{"bare LF", first + "4\r\nbody\r\n0\r\nX-T: 1\n" + next + after},
		{"empty body, LF LF", first + "0\r\nX-T: 1\n\n" + next + after},
		{"after a request served", "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n" + first + "0\r\nX-T: 1\n\n" + next + after},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := len(up.received())
			out := rawAll(t, st.addr, c.req, 5*time.Second)
			served := 0
			if strings.HasPrefix(c.req, "GET /v1/status") {
				served = 1
			}
			if got := up.received()[n:]; len(got) != served {
				t.Errorf("the service received %d requests, want %d: %q", len(got), served, out)
			}
			if k := strings.Count(out, "HTTP/1.1 400 "); k != 1 || strings.Count(out, "HTTP/1.1 ") != 1+served {
				t.Fatalf("answers %q, want one 400", out)
			}
			if strings.Contains(out, "pipe-next") || strings.Contains(out, "pipe-after") {
				t.Errorf("a pipelined request was answered: %q", out)
			}
			rec := st.sink.withRequestID(t, "pipe-first")
			if rec.Decision != audit.BadRequest || string(rec.Method()) != "POST" || string(rec.Path()) != "/v1/records" || string(rec.UserAgent()) != "first/1" {
				t.Errorf("audited %v %q %q User-Agent %q, want bad_request POST /v1/records first/1", rec.Decision, rec.Method(), rec.Path(), rec.UserAgent())
			}
			for _, id := range []string{"pipe-next", "pipe-after"} {
				if hasRecord(st.sink, id) {
					t.Errorf("a record names %s, a request never answered", id)
				}
			}
		})
	}
}

// hasRecord reports whether sink holds a record under request id id.
func hasRecord(sink *memSink, id string) bool {
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for _, r := range sink.recs {
		if string(r.RequestID()) == id {
			return true
		}
	}
	return false
}

// TestMalformedHeadSecretNeverLogged: fasthttp's parse errors quote the
// bytes they refuse; the server logs them with SecureErrorLogMessage and
// through fasthttpLogger, which keeps the format's fixed text only. A
// broken head carrying a live-looking bearer token, over a real socket,
// leaves none of it in the sidecar's log at debug level, nor in the
// answer.
func TestMalformedHeadSecretNeverLogged(t *testing.T) {
	logs := &syncBuffer{}
	st, up := startRecorded(t, func(c *Config) { c.Logger = zerolog.New(logs).Level(zerolog.DebugLevel) })
	const tok = "sk_live_51HdQ9zSecretMalformed"
	const auth = "Authorization: Bearer " + tok + "\r\n"
	for _, c := range []struct{ name, req string }{
		{"a line without a colon", "GET /v1/users HTTP/1.1\r\nHost: svc\r\n" + auth + "Broken line " + tok + "\r\n\r\n"},
		{"a name with a space", "GET /v1/users HTTP/1.1\r\nHost: svc\r\n" + auth + "X Bad: " + tok + "\r\n\r\n"},
		{"a NUL in a value", "GET /v1/users HTTP/1.1\r\nHost: svc\r\nAuthorization: Bearer " + tok + "\x00\r\n\r\n"},
		{"a bare CR", "GET /v1/users HTTP/1.1\r\nHost: svc\r\n" + auth + "X-A: 1\rX-B: " + tok + "\r\n\r\n"},
		{"a Content-Length not a number", "POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + auth + "Content-Length: " + tok + "\r\n\r\n"},
		{"a Transfer-Encoding not chunked", "POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + auth + "Transfer-Encoding: " + tok + "\r\n\r\n"},
		{"a bad chunk size", "POST /v1/records HTTP/1.1\r\nHost: svc\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\n" + tok + "\r\n"},
		{"obs-fold", "GET /v1/users HTTP/1.1\r\nHost: svc\r\n" + auth + " " + tok + "\r\n\r\n"},
		{"a head past the buffer", "GET /v1/users HTTP/1.1\r\nHost: svc\r\n" + strings.Repeat(auth, 400) + "\r\n"},
		{"a head ended badly", "GET /v1/users HTTP/1.1\r\nHost: svc\r\n" + auth + "\nX-B: " + tok + "\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", st.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(conn, c.req)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("answer %d %q, want a 4xx", resp.StatusCode, body)
			}
			if strings.Contains(string(body), "sk_live") {
				t.Errorf("the answer holds the token: %q", body)
			}
		})
	}
	if got := up.received(); len(got) != 0 {
		t.Errorf("the service received %d requests, want none", len(got))
	}
	st.sink.mu.Lock()
	for _, r := range st.sink.recs {
		if line := r.AppendJSON(nil); strings.Contains(string(line), "51HdQ9z") {
			t.Errorf("an audit record holds the token: %s", line)
		}
	}
	st.sink.mu.Unlock()
	// Each answer above was written after errorHandler returned, and
	// fasthttp logs a parse error before it calls errorHandler.
	if s := logs.String(); strings.Contains(s, "sk_live") || strings.Contains(s, "51HdQ9z") {
		t.Errorf("the log holds the token:\n%s", s)
	}
}

// TestExpectAfterBadTrailerGetsNoContinue: a request with "Expect:
// 100-continue" whose chunked body came with its head, its trailer
// section ending badly in that read (refusalTrailer), is answered 400 at
// once: it got a 100 Continue first, for a body already known to be
// refused.
func TestExpectAfterBadTrailerGetsNoContinue(t *testing.T) {
	st, up := startRecorded(t, nil)
	req := r36post + "X-Request-ID: expect-bad-trailer\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\nX-T: 1\n\n"
	out := rawAll(t, st.addr, req, 5*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 400 ") || strings.Contains(out, " 100 Continue") {
		t.Errorf("answers %q, want one 400 and no 100 Continue", out)
	}
	if rec := st.sink.withRequestID(t, "expect-bad-trailer"); rec.Decision != audit.BadRequest || string(rec.Path()) != "/v1/records" {
		t.Errorf("audited %v %q, want bad_request /v1/records", rec.Decision, rec.Path())
	}
	if len(up.received()) != 0 {
		t.Error("the service received the request")
	}
}
