package dataplane

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// A chunked request past preBodyFree refused by the check before its body
// (no credential, a revoked key, no route, its head) reaches errorHandler with its
// headers gone: its answer and audit record named a request id the
// sidecar made, not the client's, and its record had no path ("-") and
// no User-Agent. They are kept on the connection (preRefusal), cut as a
// record cuts them, so the record is the handler's for the same request
// with a small body (chunkrec140).
func TestChunkedRefusalRecordIsTheHandlers(t *testing.T) {
	st, rec := startRecorded(t, nil)
	long := "/v1/" + strings.Repeat("p", 300) // past audit.MaxPath: cut
	ua := "agent/" + strings.Repeat("u", 200) // past audit.MaxUserAgent: cut
	cases := []struct{ name, line, cred, ua string }{
		{"no credential", "POST /v1/records", "", "curl/8.5.0"},
		{"revoked key", "POST /v1/records", "X-API-Key: " + revokedKey + "\r\n", ua},
		{"no route", "PUT /v1/nowhere", "X-API-Key: " + hrisKey + "\r\n", "client/1"},
		{"no route, a long path", "POST " + long, "", ua},
		// Refused at step 1, the head itself (headRefused): 400.
		{"two credentials", "POST /v1/records", "X-API-Key: " + hrisKey + "\r\nAuthorization: Bearer e30.e30.\r\n", ua},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			head := func(id string) string {
				return c.line + " HTTP/1.1\r\nHost: svc\r\nUser-Agent: " + c.ua + "\r\nX-Request-ID: " + id + "\r\n" + c.cred
			}
			small := firstAnswer(t, st.addr, head("rec-small")+"Content-Length: 2\r\n\r\n{}", "")
			big := firstAnswer(t, st.addr, head("rec-chunked")+"Transfer-Encoding: chunked\r\n\r\n5000\r\n"+strings.Repeat("a", 0x5000)+"\r\n", "")
			// Read whole and decided by the handler, the check before
			// its body having run on its head (headRefused marks it).
			smallChunked := firstAnswer(t, st.addr, head("rec-chunked-small")+"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "")
			want := st.sink.withRequestID(t, small.header.Get("X-Request-Id"))
			for _, a := range []struct {
				how string
				r   reply
				id  string
			}{{"small", small, "rec-small"}, {"chunked 20 KiB", big, "rec-chunked"}, {"chunked 2 bytes", smallChunked, "rec-chunked-small"}} {
				if a.r.status != small.status || a.r.status < 400 {
					t.Errorf("%s: %d %q; the handler's %d", a.how, a.r.status, a.r.body, small.status)
					continue
				}
				if got, body := a.r.header.Get("X-Request-Id"), a.r.errorBody(t).RequestID; got != a.id || body != a.id {
					t.Errorf("%s: answered with request id %q (header) %q (body), want the client's %q", a.how, got, body, a.id)
				}
				if a.id != "rec-small" {
					sameRecord(t, a.how, st.sink.withRequestID(t, a.r.header.Get("X-Request-Id")), want)
				}
			}
			if c.name == "no route, a long path" && !strings.HasSuffix(string(want.Path()), audit.PathCut) {
				t.Errorf("the handler's record path %q is not cut", want.Path())
			}
		})
	}
	if got := rec.received(); len(got) != 0 {
		t.Fatalf("the upstream got %d request(s), want none", len(got))
	}
}

// sameRecord fails t unless got, the record of a chunked request (how)
// refused before its body, names what want, the handler's record of the same
// request with a small body, does: all but the time, the request id and
// the bytes.
func sameRecord(t *testing.T, how string, got, want audit.Record) {
	t.Helper()
	if string(got.Path()) != string(want.Path()) || string(got.UserAgent()) != string(want.UserAgent()) ||
		string(got.Method()) != string(want.Method()) || string(got.KeyID()) != string(want.KeyID()) {
		t.Errorf("%s: audited path %q user agent %q method %q key %q;\nthe handler's record: path %q user agent %q method %q key %q",
			how, got.Path(), got.UserAgent(), got.Method(), got.KeyID(), want.Path(), want.UserAgent(), want.Method(), want.KeyID())
	}
	if got.Decision != want.Decision || got.Status != want.Status || got.Route != want.Route || got.Client != want.Client ||
		got.Tenant != want.Tenant || got.AuthMethod != want.AuthMethod || got.SourceIP != want.SourceIP ||
		got.PolicyRevision != want.PolicyRevision || got.Issuer != want.Issuer {
		t.Errorf("%s: audited %+v;\nthe handler's record: %+v", how, got, want)
	}
}

// With no policy loaded the handler answers any request 503 not_ready;
// a chunked body past preBodyFree got 413 body_too_large (chunkrec140).
func TestChunkedNotReadyIsTheHandlers(t *testing.T) {
	unready := &policy.Store{}
	st, rec := startRecorded(t, func(c *Config) { c.Store = unready })
	head := func(id string) string {
		return "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\nUser-Agent: u/1\r\nX-Request-ID: " + id + "\r\n"
	}
	for _, w := range []struct{ how, req string }{
		{"a 1-byte body", head("nr-1") + "Content-Length: 1\r\n\r\n{"},
		{"a 2-byte body", head("nr-2") + "Content-Length: 2\r\n\r\n{}"},
		{"chunked, 10 bytes", head("nr-3") + "Transfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n"},
		{"chunked, 20 KiB", head("nr-4") + "Transfer-Encoding: chunked\r\n\r\n5000\r\n" + strings.Repeat("a", 0x5000) + "\r\n"},
	} {
		r := firstAnswer(t, st.addr, w.req, "")
		if r.status != 503 || r.errorBody(t).Error != audit.NotReady.String() {
			t.Errorf("not ready, %s: %d %q, want 503 %s", w.how, r.status, r.body, audit.NotReady)
			continue
		}
		if got := st.sink.withRequestID(t, r.header.Get("X-Request-Id")); got.Decision != audit.NotReady || got.Status != 503 {
			t.Errorf("not ready, %s: audited %v %d, want %v 503", w.how, got.Decision, got.Status, audit.NotReady)
		}
	}
	if got := rec.received(); len(got) != 0 {
		t.Fatalf("the upstream got %d request(s), want none", len(got))
	}
}

// TestChunkedOverLimitRecordIsTheHandlers: a chunked body of a caller the
// check before the body passed, refused past its class's max_body,
// reaches errorHandler with its headers gone. Its 413 named a request id
// the sidecar made and was audited as "GET /", no route, no User-Agent:
// the same body declared with Content-Length, refused from its head, is
// answered with the client's request id and audited with its route,
// method, path and User-Agent. The head's names are kept on the
// connection for such a refusal too (refusalSize), so the two
// records are the same.
func TestChunkedOverLimitRecordIsTheHandlers(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) {
		for i := range d.Classes {
			if d.Classes[i].Name == "standard" {
				d.Classes[i].MaxBody = "32KiB"
			}
		}
	})
	body := strings.Repeat("a", 40<<10)
	head := func(id string) string {
		return "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: uploader/2\r\nX-Request-ID: " + id + "\r\nX-API-Key: " + hrisKey + "\r\n"
	}
	declared := firstAnswer(t, st.addr, head("over-declared")+"Content-Length: 40960\r\n\r\n", "")
	chunked := firstAnswer(t, st.addr, head("over-chunked")+"Transfer-Encoding: chunked\r\n\r\na000\r\n"+body+"\r\n0\r\n\r\n", "")
	if declared.status != 413 || chunked.status != 413 {
		t.Fatalf("answers %d (declared) %d (chunked), want 413 both", declared.status, chunked.status)
	}
	if got := chunked.errorBody(t).RequestID; got != "over-chunked" {
		t.Errorf("chunked: answered with request id %q, want the client's %q", got, "over-chunked")
	}
	want := st.sink.withRequestID(t, "over-declared")
	if want.Route != "/v1/records" {
		t.Fatalf("the declared body's record names route %q", want.Route)
	}
	sameRecord(t, "chunked over max_body", st.sink.withRequestID(t, chunked.errorBody(t).RequestID), want)
	if got := rec.received(); len(got) != 0 {
		t.Fatalf("the upstream got %d request(s), want none", len(got))
	}
}

// TestChunkedBadFramingRecordNamesTheRequest: a chunked body whose head
// the check before the body passed or refused (its names kept on the
// connection: preRefusal), then failing in its framing (a chunk size
// that is not hex) or stalling, reaches errorHandler with its headers
// gone, as one refused for its size does. Its 400 named a request id the
// sidecar made and was recorded as "GET -", no User-Agent: the client's
// request id, method, path and User-Agent were kept for the 413 alone
// (TestChunkedOverLimitRecordIsTheHandlers). They name its 400 too.
func TestChunkedBadFramingRecordNamesTheRequest(t *testing.T) {
	st, _ := startRecorded(t, nil)
	slow, _ := startRecorded(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	head := func(id, cred string) string {
		return "POST /v1/records HTTP/1.1\r\nHost: svc\r\nUser-Agent: framer/3\r\nX-Request-ID: " + id + "\r\n" + cred + "Transfer-Encoding: chunked\r\n\r\n"
	}
	key := "X-API-Key: " + hrisKey + "\r\n"
	for _, c := range []struct {
		name, id, req string
		st            *stack
	}{
		{"passed, a chunk size not hex", "frame-passed", head("frame-passed", key) + "zz\r\nabc\r\n0\r\n\r\n", st},
		{"passed, a bad chunk after a good one", "frame-second", head("frame-second", key) + "10\r\n0123456789abcdef\r\nzz\r\n", st},
		{"refused, a chunk size not hex", "frame-revoked", head("frame-revoked", "X-API-Key: "+revokedKey+"\r\n") + "zz\r\n", st},
		{"passed, stalled", "frame-stalled", head("frame-stalled", key) + "3000\r\n" + strings.Repeat("a", 100), slow},
		{"passed, declared and stalled", "frame-declared", strings.Replace(head("frame-declared", key), "Transfer-Encoding: chunked", "Content-Length: 40000", 1) + strings.Repeat("a", 100), slow},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := firstAnswer(t, c.st.addr, c.req, "")
			if r.status != 400 {
				t.Fatalf("answer %d %q, want 400", r.status, r.body)
			}
			if got := r.errorBody(t).RequestID; got != c.id {
				t.Errorf("answered with request id %q, want the client's %q", got, c.id)
			}
			rec := c.st.sink.withRequestID(t, r.errorBody(t).RequestID)
			if string(rec.Method()) != "POST" || string(rec.Path()) != "/v1/records" || string(rec.UserAgent()) != "framer/3" || rec.Decision != audit.BadRequest {
				t.Errorf("audited %v %q %q user agent %q, want bad_request POST /v1/records framer/3", rec.Decision, rec.Method(), rec.Path(), rec.UserAgent())
			}
		})
	}
}
