package dataplane

import (
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Finding (attack135): on a route whose class's max_body is within
// preBodyFree (16 KiB), the check before the body was skipped for
// "Expect: 100-continue": expect asked preBodyLimit about a body of
// preBodyFree+1 bytes, over such a class's limit, which preBodyLimit
// leaves to the size check without deciding; the caller got its 100
// Continue whatever its credential, and its body was read before the
// 401. And a chunked body such a request sent past preBodyFree was
// answered with the check's decision (401), where one past the class's
// max_body but within preBodyFree got the handler's 413: decide checks
// the size first.

// smallClass is the example policy with the standard class's max_body
// at 8 KiB, within preBodyFree.
func smallClass(d *policy.Document) {
	for i := range d.Classes {
		if d.Classes[i].Name == "standard" {
			d.Classes[i].MaxBody = "8KiB"
		}
	}
}

// TestExpectOnSmallClassChecksTheCredential: with Expect: 100-continue,
// a request to a route of a class whose max_body is at most 16 KiB gets
// 100 only when the handler would read its body: the credential is
// checked first, and a declared body over the limit is 413 at once.
func TestExpectOnSmallClassChecksTheCredential(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, smallClass)
	const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\n"
	cases := []struct {
		name, req string
		status    int
		d         audit.Decision
	}{
		{"no credential, 100 bytes declared", post + "Expect: 100-continue\r\nContent-Length: 100\r\n\r\n", 401, audit.Unauthenticated},
		{"no credential, chunked", post + "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n", 401, audit.Unauthenticated},
		{"unknown key, 100 bytes declared", post + "X-API-Key: pk_acmehris1_NotTheSecret0000000000000000000001\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n", 401, audit.Unauthenticated},
		{"verified, lacking the scope", post + "X-API-Key: " + adminKey + "\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n", 403, audit.Forbidden},
		{"no credential, over the class's limit", post + "Expect: 100-continue\r\nContent-Length: 9000\r\n\r\n", 413, audit.BodyTooLarge},
	}
	for _, c := range cases {
		r := firstAnswer(t, st.addr, c.req, "")
		if r.status != c.status {
			t.Errorf("%s: first answer %d %q, want %d %s", c.name, r.status, r.body, c.status, c.d)
			continue
		}
		if e := r.errorBody(t); e.Error != c.d.String() && !(c.d == audit.Unauthenticated && e.Error == "unauthenticated") {
			t.Errorf("%s: error %q, want %s", c.name, e.Error, c.d)
		}
		if got := st.sink.withRequestID(t, r.header.Get("X-Request-Id")).Decision; got != c.d {
			t.Errorf("%s: audited %v, want %v", c.name, got, c.d)
		}
	}
	if got := rec.received(); len(got) != 0 {
		t.Fatalf("the upstream got %d request(s), want none", len(got))
	}
	// A caller the handler admits still gets its 100, declared or chunked.
	for _, req := range []string{
		post + "X-API-Key: " + hrisKey + "\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
		post + "X-API-Key: " + hrisKey + "\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		body := "{}"
		if strings.Contains(req, "chunked") {
			body = "2\r\n{}\r\n0\r\n\r\n"
		}
		if r := firstAnswer(t, st.addr, req, body); r.status != 200 {
			t.Errorf("%.90q: %d %q, want 100 then 200", req, r.status, r.body)
		}
	}
}

// TestChunkedRefusedOverSmallClassIs413: a chunked body past a class's
// max_body of at most 16 KiB is 413 body_too_large whatever the
// credential, as decide orders it (the size before the credential),
// whether it ends within 16 KiB (read whole) or past it; one within the
// limit gets the credential's answer.
func TestChunkedRefusedOverSmallClassIs413(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, smallClass)
	const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\n"
	chunk := func(n int) string {
		return "Transfer-Encoding: chunked\r\n\r\n" + strconv.FormatInt(int64(n), 16) + "\r\n" + strings.Repeat("a", n) + "\r\n0\r\n\r\n"
	}
	for _, cred := range []string{"", "X-API-Key: pk_acmehris1_NotTheSecret0000000000000000000001\r\n", "X-API-Key: " + adminKey + "\r\n"} {
		small := firstAnswer(t, st.addr, post+cred+chunk(2), "")
		if small.status != 401 && small.status != 403 {
			t.Fatalf("%q, 2 bytes chunked: %d %q, want the credential's 401 or 403", cred, small.status, small.body)
		}
		var whole audit.Record
		for _, n := range []int{12 << 10, 20 << 10} {
			r := firstAnswer(t, st.addr, post+cred+chunk(n), "")
			if r.status != 413 {
				t.Errorf("%q, %d bytes chunked: first answer %d %q, want 413 body_too_large", cred, n, r.status, r.body)
				continue
			}
			got := st.sink.withRequestID(t, r.header.Get("X-Request-Id"))
			if got.Decision != audit.BodyTooLarge {
				t.Errorf("%q, %d bytes chunked: audited %v, want body_too_large", cred, n, got.Decision)
			}
			if n == 12<<10 {
				whole = got
				continue
			}
			if got.Route != whole.Route || got.Client != whole.Client || string(got.KeyID()) != string(whole.KeyID()) || got.AuthMethod != whole.AuthMethod {
				t.Errorf("%q, 20 KiB chunked: audited route %q client %q key %q method %v; read whole: route %q client %q key %q method %v",
					cred, got.Route, got.Client, got.KeyID(), got.AuthMethod, whole.Route, whole.Client, whole.KeyID(), whole.AuthMethod)
			}
		}
	}
	if got := rec.received(); len(got) != 0 {
		t.Fatalf("the upstream got %d request(s), want none", len(got))
	}
}
