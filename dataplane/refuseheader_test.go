package dataplane

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Finding (review88, from the last session's note): a credential the
// sidecar does not verify, in a header such as X-Auth-Token or
// X-Access-Token, went on to the service unverified beside the verified
// one, on every route (review64 let it, for the services that check it
// themselves). The policy may now name such headers in refuse_headers: a
// request carrying one is refused 400, before its body where the
// credential is checked before it, and none reaches the service. Without
// the list (the example policy) they go on as before.

// TestRefusedHeaderNeverForwarded sends, over a real socket, requests
// carrying a header of refuse_headers: in any case of its name, beside a
// verified key, on a public route, with an upload announced by Expect:
// each is refused 400 bad_request (the upload before its 100), audited
// without the header's value, and nothing reaches the upstream. A request
// without it is served; under a policy without the list the header goes
// on.
func TestRefusedHeaderNeverForwarded(t *testing.T) {
	st, rec := startRecorded(t, nil)
	const token = "sessTokenValue0123456789"
	const acme = "X-API-Key: " + hrisKey + "\r\n"
	get := func(target, headers string) reply {
		t.Helper()
		return raw(t, st.addr, "GET "+target+" HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n"+headers+"\r\n")
	}
	n := len(rec.received())
	if r := get("/v1/users", acme+"X-Auth-Token: "+token+"\r\n"); r.status != 200 || len(rec.received()[n:]) != 1 || len(rec.received()[n].values("x-auth-token")) != 1 {
		t.Fatalf("without refuse_headers: %d, want 200 with X-Auth-Token forwarded, as before", r.status)
	}
	swapDoc(t, st.store, func(d *policy.Document) { d.RefuseHeaders = []string{"X-Auth-Token", "X-Access-Token"} })
	for _, c := range []struct{ method, target, headers string }{
		{"GET", "/v1/users", acme + "X-Auth-Token: " + token + "\r\n"},
		{"GET", "/v1/users", acme + "x-auth-token: " + token + "\r\n"},
		{"GET", "/v1/users", acme + "X-ACCESS-TOKEN: " + token + "\r\n"},
		{"GET", "/v1/users", "X-Auth-Token: " + token + "\r\n"},  // no verified credential at all
		{"GET", "/v1/status", "X-Auth-Token: " + token + "\r\n"}, // public
		{"POST", "/v1/records", acme + "X-Auth-Token: " + token + "\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"},
		{"POST", "/v1/records", acme + "X-Auth-Token: " + token + "\r\nContent-Length: 1000000\r\n"},
		{"POST", "/v1/records", acme + "X-Auth-Token: " + token + "\r\nTransfer-Encoding: chunked\r\n\r\n5000\r\n" + strings.Repeat("a", 0x5000)},
	} {
		n := len(rec.received())
		head := c.method + " " + c.target + " HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n" + c.headers
		if !strings.Contains(c.headers, "\r\n\r\n") {
			head += "\r\n" // the head's end; a chunked case has it already
		}
		r := raw(t, st.addr, head)
		if got := rec.received()[n:]; r.status != 400 || len(got) != 0 {
			t.Errorf("%s %s with %q: first answer %d %q, the upstream got %d request(s); want 400, nothing forwarded", c.method, c.target, c.headers, r.status, r.body, len(got))
			continue
		}
		if e := r.errorBody(t); e.Error != "bad_request" {
			t.Errorf("%s %s with %q: error %q, want bad_request", c.method, c.target, c.headers, e.Error)
		}
		rr := st.sink.withRequestID(t, r.header.Get("X-Request-Id"))
		if rr.Decision != audit.BadRequest {
			t.Errorf("%s %s with %q: audited %v, want bad_request", c.method, c.target, c.headers, rr.Decision)
		}
		if b, _ := json.Marshal(rr); strings.Contains(string(b), token) {
			t.Errorf("%s %s: the audit record holds the refused header's value: %s", c.method, c.target, b)
		}
	}
	n = len(rec.received())
	if r := get("/v1/users", acme); r.status != 200 || len(rec.received()[n:]) != 1 {
		t.Errorf("a request without a refused header: %d, want 200", r.status)
	}
}

// TestRefusedHeaderReachesWaitingRequests: a request that waited (in its
// class's queue, or for an upstream connection) while a push named the
// header it carries in refuse_headers is decided again on the new tables
// and refused.
func TestRefusedHeaderReachesWaitingRequests(t *testing.T) {
	for _, pool := range []bool{false, true} {
		t.Run(map[bool]string{false: "queue", true: "pool"}[pool], func(t *testing.T) {
			w := newWaitScene(t, pool) // recheck_test.go
			w.hold(t, w.export(t, key(adminKey)))
			w.wait(t, w.export(t, map[string]string{"X-API-Key": adminKey, "X-Auth-Token": "sessTokenValue0123456789"}))
			swapDoc(t, w.st.store, func(d *policy.Document) {
				exportWait(pool)(d)
				d.RefuseHeaders = []string{"X-Auth-Token"}
			})
			first, second := w.finish(t)
			if first.status != 200 || second.status != 400 || second.errorBody(t).Error != "bad_request" || len(w.arrived) != 0 {
				t.Fatalf("a waiting export with X-Auth-Token after a push named it in refuse_headers: answers %d and %d %q, %d more request(s) reached the upstream; want 200, then 400 bad_request and none",
					first.status, second.status, second.body, len(w.arrived))
			}
		})
	}
}
