package dataplane

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Finding (review102): a service behind the sidecar may authenticate a
// session cookie (Django's sessionid, Rails' _app_session, PHP's
// PHPSESSID, Express's connect.sid, hapi-auth-jwt2's token) besides what
// the sidecar verifies. Such a cookie went on unverified on every route,
// public ones too: a client with only a weak API key, or none, reached
// the service as whoever the cookie named. refuse_cookies names them; a
// request carrying one in any spelling a common server reads as its name
// is refused 400 before its body, and nothing reaches the service.

// cookieValue is the refused cookies' value in these tests: it must
// appear in no answer and no audit record.
const cookieValue = "sessValue0123456789abcdef"

// refusedCookieSpellings are Cookie lines (one or more) a common server
// reads as a cookie the policy of the tests lists, and the two letters
// outside ASCII the sidecar folds beyond what servers read (cookieNameIs),
// with the name the answer must give (as the policy writes it).
var refusedCookieSpellings = []struct{ lines, name string }{
	{"Cookie: sessionid=" + cookieValue, "sessionid"},
	{"Cookie: theme=dark; sessionid=" + cookieValue, "sessionid"},
	{"Cookie: theme=dark;sessionid=" + cookieValue, "sessionid"},
	{"Cookie: theme=dark,sessionid=" + cookieValue, "sessionid"},            // RFC 2109's separator (Rack 2)
	{"Cookie: theme=dark , sessionid = " + cookieValue, "sessionid"},        // blanks around the name and '='
	{"Cookie: theme=dark;\tsessionid\t=" + cookieValue, "sessionid"},        // tabs
	{"Cookie: theme=dark\r\nCookie: sessionid=" + cookieValue, "sessionid"}, // a second line, which servers join
	{"Cookie: SessionID=" + cookieValue, "sessionid"},                       // ASP.NET Core ignores case
	{"Cookie: theme=dark; sessionid", "sessionid"},                          // no '=' (Go's net/http: the cookie, empty)
	{"Cookie: sessionid=\"" + cookieValue + "\"", "sessionid"},              // quoted
	{"Cookie: sessionid[x]=" + cookieValue, "sessionid"},                    // PHP's and Rack's array
	{"Cookie: [sessionid]=" + cookieValue, "sessionid"},                     // Rack's nested key
	{"Cookie: %73essionid=" + cookieValue, "sessionid"},                     // escaped (Rack 2, PHP, ASP.NET Core 2)
	{"Cookie: theme=dark sessionid=" + cookieValue, "sessionid"},            // Python's SimpleCookie ends a pair at a blank
	{"Cookie: .app.session=" + cookieValue, "_app_session"},                 // PHP reads '.' as '_'
	{"Cookie: _app session=" + cookieValue, "_app_session"},                 // and ' '
	{"Cookie: _app[session=" + cookieValue, "_app_session"},                 // and an unmatched '['
	{"Cookie: +_app_session=" + cookieValue, "_app_session"},                // PHP drops a leading blank after decoding
	{"Cookie: %20%5Fapp%2Esession=" + cookieValue, "_app_session"},          // the same, escaped
	{"Cookie: phpsessid=" + cookieValue, "PHPSESSID"},                       // any case
	{"Cookie: PHPSESSID%00x=" + cookieValue, "PHPSESSID"},                   // PHP ends a name at NUL
	{"Cookie: Connect.SID=" + cookieValue, "connect.sid"},                   // Express
	{"Cookie: a=1; b=2; token=" + cookieValue, "token"},                     // hapi-auth-jwt2's default
	{"Cookie: @sessionid=" + cookieValue, "sessionid"},                      // ASP.NET Core retries a failed pair from each next byte
	{"Cookie: theme=dark\"sessionid=" + cookieValue, "sessionid"},           // so a name after any byte outside a token is read
	{"Cookie: a=b/x@y(connect.sid=\"" + cookieValue + "\"", "connect.sid"},  // a value's run ends at '"', which opens the quoted value of connect.sid (review111)
	{"Cookie: a=\"b\"@sessionid=" + cookieValue, "sessionid"},               // a quoted value followed by more than blanks fails the pair
	{"Cookie: a=b?x=\"y\" sessionid=" + cookieValue, "sessionid"},           // and the try from the next byte reads on
	{"Cookie: theme=\u00e9PHPSESSID=" + cookieValue, "PHPSESSID"},           // after a byte outside ASCII too
	{"Cookie: \u017fessionid=" + cookieValue, "sessionid"},                  // long s: .NET Core 3.1 on ICU read it as s; .NET 5+ does not (cookieNameIs)
	{"Cookie: to\u212aen=" + cookieValue, "token"},                          // Kelvin sign: no server reads it as k; refused all the same
}

// TestRefusedCookieNeverForwarded sends, over a real socket, requests
// carrying a cookie of refuse_cookies in every spelling of
// refusedCookieSpellings: beside a verified key, without any credential,
// on a public route: each is refused 400 bad_request naming the cookie,
// never its value, audited without it, and nothing reaches the upstream.
// Under a policy without the list the cookie goes on as before.
func TestRefusedCookieNeverForwarded(t *testing.T) {
	st, rec := startRecorded(t, nil)
	const acme = "X-API-Key: " + hrisKey + "\r\n"
	get := func(target, headers string) reply {
		t.Helper()
		return raw(t, st.addr, "GET "+target+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n"+headers+"\r\n")
	}
	n := len(rec.received())
	if r := get("/v1/users", acme+"Cookie: sessionid="+cookieValue+"\r\n"); r.status != 200 || len(rec.received()[n:]) != 1 || len(rec.received()[n].values("cookie")) != 1 {
		t.Fatalf("without refuse_cookies: %d, want 200 with the cookie forwarded, as before", r.status)
	}
	swapDoc(t, st.store, func(d *policy.Document) {
		d.RefuseCookies = []string{"sessionid", "_app_session", "PHPSESSID", "connect.sid", "token"}
	})
	for _, c := range refusedCookieSpellings {
		for _, on := range []struct{ target, credential string }{
			{"/v1/users", acme}, // beside a verified key
			{"/v1/users", ""},   // no credential at all
			{"/v1/status", ""},  // public
		} {
			n := len(rec.received())
			r := get(on.target, on.credential+c.lines+"\r\n")
			if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
				t.Errorf("GET %s with %q: %d %q, the upstream got %d request(s); want 400, nothing forwarded", on.target, c.lines, r.status, r.body, len(got))
				continue
			}
			e := r.errorBody(t)
			if e.Error != "bad_request" || !strings.Contains(e.Message, "cookie "+c.name+" ") || strings.Contains(r.body, cookieValue) {
				t.Errorf("GET %s with %q: %q; want bad_request naming the cookie %s, without its value", on.target, c.lines, r.body, c.name)
			}
			rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id"))
			if b, _ := json.Marshal(rr); rr.Decision != audit.BadRequest || strings.Contains(string(b), cookieValue) {
				t.Errorf("GET %s with %q: audited %s; want bad_request, without the cookie's value", on.target, c.lines, b)
			}
		}
	}
	n = len(rec.received())
	if r := get("/v1/users", acme+"Cookie: theme=dark; lang=en\r\n"); r.status != 200 || len(rec.received()[n:]) != 1 {
		t.Errorf("a request with cookies not listed: %d, want 200", r.status)
	}
}

// TestRefusedCookieSpellingsNotRead pins what refuse_cookies does not
// refuse: names no common server reads as a listed one (another name
// holding it, a listed name in a value, an escape decoded twice, a
// letter outside ASCII that only looks like an ASCII one: no parser maps
// Cyrillic dze to s). They go on to the service as sent.
//
// Finding (review111): a listed name followed by '=' inside a valid
// cookie's value, after '/', '?', '&' or another byte outside a token (a
// return-to URL kept in a cookie), was refused as ASP.NET Core's: its
// parser reads the value of "back=/app?token=x" to the end and the
// cookie back only; it reads a name there only in a pair it cannot parse.
func TestRefusedCookieSpellingsNotRead(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.RefuseCookies = []string{"sessionid", "token"} })
	for _, line := range []string{
		"Cookie: xsessionid=1; sessionidx=2; session_id=3",
		"Cookie: last=sessionid",
		"Cookie: back=/app?token=x",
		"Cookie: back=/sessionid=x; q=a&sessionid=x&token=y",
		"Cookie: back=\"/app?sessionid=x\"",
		"Cookie: a=b/x@y(sessionid=x",
		"Cookie: a=b:c=d=token=x",
		"Cookie: %2573essionid=1",
		"Cookie: \u0455essionid=1",
	} {
		n := len(rec.received())
		r := raw(t, st.addr, "GET /v1/users HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nX-API-Key: "+hrisKey+"\r\n"+line+"\r\n\r\n")
		got := rec.received()[n:]
		if r.status != 200 || len(got) != 1 || strings.Join(got[0].values("cookie"), "") != strings.TrimPrefix(line, "Cookie: ") {
			t.Errorf("%q: %d %q; want 200 and the line forwarded as sent", line, r.status, r.body)
		}
	}
}

// TestRefusedCookieBeforeBody: a request carrying a refused cookie is
// refused before its body, on a public route and on a credentialed one:
// an upload announced by Expect gets no 100 Continue, a body declared at
// 1 MB is not read, a chunked one past 16 KiB is answered 400 (not 413),
// a small chunked one read whole is answered 400 by the handler;
// each answer names the cookie (the head refused before the body comes
// to errorHandler, which looks again).
func TestRefusedCookieBeforeBody(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) {
		d.RefuseCookies = []string{"PHPSESSID"}
		d.Routes = append(append([]policy.RouteSpec(nil), d.Routes...), policy.RouteSpec{Method: "POST", Path: "/v1/signup", Class: "standard", Public: true})
	})
	const cookie = "Cookie: lang=en; PHP.SESSID=x\r\nCookie: phpsessid=" + cookieValue + "\r\n"
	for _, head := range []string{
		"POST /v1/signup HTTP/1.1\r\nHost: svc\r\n",
		"POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n",
	} {
		for _, c := range []struct{ name, request string }{
			{"Expect: 100-continue", head + cookie + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"},
			{"1 MB declared, head only", head + cookie + "Content-Length: 1000000\r\n\r\n"},
			{"chunked, 20 KiB sent", head + cookie + "Transfer-Encoding: chunked\r\n\r\n5000\r\n" + strings.Repeat("a", 0x5000) + "\r\n"},
			{"chunked, whole and small", head + cookie + "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"}, // read108: answered without the cookie's name
		} {
			n := len(rec.received())
			r := firstAnswer(t, st.addr, c.request, "{}")
			if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
				t.Errorf("%q, %s: first answer %d %q, the upstream got %d request(s); want 400 before the body, nothing forwarded", head, c.name, r.status, r.body, len(got))
				continue
			}
			if e := r.errorBody(t); e.Error != "bad_request" || !strings.Contains(e.Message, "cookie PHPSESSID ") {
				t.Errorf("%q, %s: %q; want bad_request naming the cookie PHPSESSID", head, c.name, r.body)
			}
			if rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); rr.Decision != audit.BadRequest {
				t.Errorf("%q, %s: audited %v, want bad_request", head, c.name, rr.Decision)
			}
		}
	}
	if r := firstAnswer(t, st.addr, "POST /v1/signup HTTP/1.1\r\nHost: svc\r\nCookie: lang=en\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", "{}"); r.status != 200 {
		t.Errorf("a public upload without a refused cookie, Expect: 100-continue: %d %q, want 100 then 200", r.status, r.body)
	}
}

// TestRefusedCookieReachesWaitingRequests: a request that waited (in its
// class's queue, or for an upstream connection) while a push named the
// cookie it carries in refuse_cookies is decided again on the new tables
// and refused.
func TestRefusedCookieReachesWaitingRequests(t *testing.T) {
	for _, pool := range []bool{false, true} {
		t.Run(map[bool]string{false: "queue", true: "pool"}[pool], func(t *testing.T) {
			w := newWaitScene(t, pool) // recheck_test.go
			w.hold(t, w.export(t, key(adminKey)))
			w.wait(t, w.export(t, map[string]string{"X-API-Key": adminKey, "Cookie": "sessionid=" + cookieValue}))
			swapDoc(t, w.st.store, func(d *policy.Document) {
				exportWait(pool)(d)
				d.RefuseCookies = []string{"sessionid"}
			})
			first, second := w.finish(t)
			if first.status != 200 || second.status != 400 || !strings.Contains(second.errorBody(t).Message, "cookie sessionid ") || len(w.arrived) != 0 {
				t.Fatalf("a waiting export with a sessionid cookie after a push named it in refuse_cookies: answers %d and %d %q, %d more request(s) reached the upstream; want 200, then 400 naming the cookie and none",
					first.status, second.status, second.body, len(w.arrived))
			}
		})
	}
}

// FuzzCookieNamed holds cookieNamed to Go's own cookie parser, one of
// the servers it reads names as: a Cookie value in which net/http finds
// a cookie named a listed name, in any case (ASP.NET Core's comparison),
// is one cookieNamed refuses; and no value makes it panic.
func FuzzCookieNamed(f *testing.F) {
	for _, c := range refusedCookieSpellings {
		f.Add(strings.TrimPrefix(strings.SplitN(c.lines, "\r\n", 2)[0], "Cookie: "))
	}
	f.Add("theme=dark; lang=en")
	f.Add(" \t sessionid ;;, =; token")
	wants := []string{"sessionid", "_app_session", "phpsessid", "connect.sid", "token"}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.ContainsAny(v, "\r\n") {
			return // not a header value
		}
		r := &http.Request{Header: http.Header{"Cookie": {v}}}
		for _, want := range wants {
			got := cookieNamed([]byte(v), []string{want}) != 0
			for _, c := range r.Cookies() {
				if strings.EqualFold(c.Name, want) && !got {
					t.Fatalf("Cookie: %q: net/http reads the cookie %q, cookieNamed(%q) = false", v, c.Name, want)
				}
			}
		}
	})
}
