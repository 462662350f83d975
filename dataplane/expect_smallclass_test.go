package dataplane

import (
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// Finding (attack131): expect (prebody.go) gets a request's body checked
// before its 100 Continue by asking preBodyLimit about a body of at least
// preBodyFree+1 bytes, whatever it declares, so that the credential is
// checked for a small body too. preBodyLimit answers a body over its
// route's class limit with that limit before the credential, and on a
// class whose max_body is under 16 KiB every such request was over it:
// a request with no credential (or one lacking the route's scope)
// declaring a body within the limit, or a chunked one, got its 100 and had
// its body read before the 401 (403).

// smallUploads is the example policy with a class taking bodies of at
// most 8 KiB and a route to it.
func smallUploads(d *policy.Document) {
	d.Classes = append(d.Classes, policy.ClassSpec{Name: "small", Kind: "standard", MaxBody: "8KiB"})
	d.Routes = append(append([]policy.RouteSpec(nil), d.Routes...),
		policy.RouteSpec{Method: "POST", Path: "/v1/notes", Class: "small", Scopes: []string{"write:records"}})
}

// TestExpectOnSmallClassAfterAuthentication sends, over a real socket,
// uploads with Expect: 100-continue to a route whose class takes at most
// 8 KiB: without a credential, with a key lacking its scope, declared
// within the limit and chunked, each gets its refusal first, not 100; a
// caller with the scope gets 100, then 200; one declaring more than the
// limit gets 413 first.
func TestExpectOnSmallClassAfterAuthentication(t *testing.T) {
	st, rec := startRecorded(t, nil)
	swapDoc(t, st.store, smallUploads)
	head := "POST /v1/notes HTTP/1.1\r\nHost: svc\r\nExpect: 100-continue\r\n"
	admin := "X-API-Key: " + adminKey + "\r\n"
	hris := "X-API-Key: " + hrisKey + "\r\n"
	for _, c := range []struct {
		name, hdrs string
		status     int
	}{
		{"no credential, 2 bytes declared", "Content-Length: 2\r\n", 401},
		{"no credential, chunked", "Transfer-Encoding: chunked\r\n", 401},
		{"lacking the scope, 2 bytes declared", admin + "Content-Length: 2\r\n", 403},
		{"lacking the scope, chunked", admin + "Transfer-Encoding: chunked\r\n", 403},
		{"over the class limit", hris + "Content-Length: 9000\r\n", 413},
	} {
		if r := firstAnswer(t, st.addr, head+c.hdrs+"\r\n", ""); r.status != c.status {
			t.Errorf("%s: first answer %d %q, want %d (no 100 before the credential is checked)", c.name, r.status, r.body, c.status)
		}
	}
	if got := rec.received(); len(got) != 0 {
		t.Fatalf("the upstream got %d request(s), want none", len(got))
	}
	if r := firstAnswer(t, st.addr, head+hris+"Content-Length: 2\r\n\r\n", "{}"); r.status != 200 {
		t.Errorf("a caller with the scope: %d %q, want 100 then 200", r.status, r.body)
	}
}
