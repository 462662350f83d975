package dataplane

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Finding (prebody132): the check before the body (prebody.go) ran the
// credential, authorize and the approval check, but not what decide
// checks before the credential: a method override parameter or an
// access token in the query, a tenant cookie on a route binding
// {tenant}, an absolute-form target naming another host, strict audit
// with no sink accepting, a stale policy. An upload failing one of those
// without a verified credential was answered 401 before its body, where
// the same request with a small body, read whole, gets the handler's 400
// or 503. And a chunked body past 16 KiB, its headers gone when fasthttp
// refuses it, was answered 413 when its credential did not authenticate
// (or it had no route, or content its GET route refuses), where the
// handler gives 401, 403, 404 or 400. The check before the body now runs
// decide's order up to the limits, and marks any refusal on the
// connection for errorHandler.

// sameAnswers sends head (a request line and headers, without framing)
// three ways over a real socket: with a 2-byte body read whole (the
// handler decides it), with a 20 KiB chunked body, and with Expect:
// 100-continue and 60000 bytes declared. Each must be answered with
// status and decision d, the same error and WWW-Authenticate, and be
// audited with d. It returns the three records.
func sameAnswers(t *testing.T, st *stack, head string, status int, d audit.Decision) (recs [3]audit.Record) {
	t.Helper()
	ways := []struct{ how, req string }{
		{"a 2-byte body read whole", head + "Content-Length: 2\r\n\r\n{}"},
		{"chunked, 20 KiB sent", head + "Transfer-Encoding: chunked\r\n\r\n5000\r\n" + strings.Repeat("a", 0x5000) + "\r\n"},
		{"Expect: 100-continue, 60000 bytes declared", head + "Expect: 100-continue\r\nContent-Length: 60000\r\n\r\n"},
	}
	var whole reply
	for i, w := range ways {
		r := firstAnswer(t, st.addr, w.req, "")
		if i == 0 {
			whole = r
		}
		if r.status != status {
			t.Errorf("%s: first answer %d %q, want %d %s", w.how, r.status, r.body, status, d)
			continue
		}
		if got, want := r.errorBody(t).Error, whole.errorBody(t).Error; got != want {
			t.Errorf("%s: error %q, the handler's %q", w.how, got, want)
		}
		if got, want := r.header.Get("WWW-Authenticate"), whole.header.Get("WWW-Authenticate"); got != want {
			t.Errorf("%s: WWW-Authenticate %q, the handler's %q", w.how, got, want)
		}
		recs[i] = st.sink.withRequestID(t, r.header.Get("X-Request-Id"))
		if recs[i].Decision != d {
			t.Errorf("%s: audited %v, want %v", w.how, recs[i].Decision, d)
		}
	}
	return recs
}

// TestHandlerChecksBeforeBodySameAnswer: each request decide refuses
// before the credential gets the handler's answer and decision whatever
// its body's size and framing.
func TestHandlerChecksBeforeBodySameAnswer(t *testing.T) {
	t.Run("query, cookie, target, route, content", func(t *testing.T) {
		t.Parallel()
		st, rec := startRecorded(t, nil)
		swapDoc(t, st.store, tenantUpload)
		cases := []struct {
			name, head string
			status     int
			d          audit.Decision
		}{
			{"method override in the query", "POST /v1/records?_method=DELETE HTTP/1.1\r\nHost: svc\r\n", 400, audit.BadRequest},
			{"access token in the query", "POST /v1/records?access_token=abc HTTP/1.1\r\nHost: svc\r\n", 400, audit.BadRequest},
			{"tenant parameter in the query", "POST /v1/tenants/acme/records?__tenant=globex HTTP/1.1\r\nHost: svc\r\n", 400, audit.BadRequest},
			{"tenant cookie on a {tenant} route", "POST /v1/tenants/acme/records HTTP/1.1\r\nHost: svc\r\nCookie: __tenant=globex\r\n", 400, audit.BadRequest},
			{"absolute form naming another host", "POST http://other/v1/records HTTP/1.1\r\nHost: svc\r\n", 400, audit.BadRequest},
			{"no route", "POST /v1/nothing-here HTTP/1.1\r\nHost: svc\r\n", 404, audit.NoRoute},
			{"content on a GET", "GET /v1/users HTTP/1.1\r\nHost: svc\r\n", 400, audit.BadRequest},
			{"a Connection list naming Host", "POST /v1/records HTTP/1.1\r\nHost: svc\r\nConnection: host\r\n", 400, audit.BadRequest},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { sameAnswers(t, st, c.head, c.status, c.d) })
		}
		if got := rec.received(); len(got) != 0 {
			t.Fatalf("the upstream got %d request(s), want none", len(got))
		}
	})
	t.Run("strict audit, no sink accepting", func(t *testing.T) {
		t.Parallel()
		var sink *closingSink
		st := startStack(t, func(c *Config) {
			sink = &closingSink{memSink: c.Audit.(*memSink)}
			c.Audit = sink
		})
		swapDoc(t, st.store, func(d *policy.Document) { d.Audit.Mode = "strict" })
		sink.closed.Store(true)
		sameAnswers(t, st, "POST /v1/records HTTP/1.1\r\nHost: svc\r\n", 503, audit.AuditUnavailable)
	})
	t.Run("policy stale", func(t *testing.T) {
		t.Parallel()
		st := startStack(t, func(c *Config) { c.Watching = true })
		swapDoc(t, st.store, func(d *policy.Document) {
			d.Staleness = policy.StaleSpec{MaxAge: "1s", Action: "deny"}
		})
		// Nothing feeds the Store here: it was last heard at the swap.
		for time.Since(time.Unix(0, st.store.HeardAt())) < 1100*time.Millisecond {
			time.Sleep(50 * time.Millisecond)
		}
		sameAnswers(t, st, "POST /v1/records HTTP/1.1\r\nHost: svc\r\n", 503, audit.PolicyStale)
	})
}

// TestChunkedCredentialRefusalIsTheHandlers: a chunked body past 16 KiB
// whose credential does not authenticate gets the handler's 401 (with
// WWW-Authenticate) or 403, not 413, audited with the handler's decision
// and, as the handler's record does, the key id, the client and its
// tenant, the authentication method and the route.
func TestChunkedCredentialRefusalIsTheHandlers(t *testing.T) {
	st, _ := startRecorded(t, nil)
	const post = "POST /v1/records HTTP/1.1\r\nHost: svc\r\n"
	cases := []struct {
		name, cred string
		status     int
		d          audit.Decision
		suspend    bool
	}{
		{"no credential", "", 401, audit.Unauthenticated, false},
		{"unknown key", "X-API-Key: pk_acmehris1_NotTheSecret0000000000000000000001\r\n", 401, audit.Unauthenticated, false},
		{"revoked key", "X-API-Key: " + revokedKey + "\r\n", 401, audit.KeyRevoked, false},
		{"forged bearer", "Authorization: Bearer e30.e30.\r\n", 401, audit.Unauthenticated, false},
		{"suspended client", "X-API-Key: " + hrisKey + "\r\n", 403, audit.Suspended, true},
	}
	for _, c := range cases {
		if c.suspend {
			prev := st.store.Load()
			next, err := policy.Amend(prev, policy.Live{Revision: prev.Revision + 1, Suspended: map[string]struct{}{"acme-hris": {}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			st.store.Swap(next)
		}
		t.Run(c.name, func(t *testing.T) {
			recs := sameAnswers(t, st, post+c.cred, c.status, c.d)
			want := recs[0]
			for i, how := range []string{"chunked", "Expect"} {
				r := recs[i+1]
				if string(r.KeyID()) != string(want.KeyID()) || r.Client != want.Client || r.Tenant != want.Tenant ||
					r.AuthMethod != want.AuthMethod || r.Route != want.Route {
					t.Errorf("%s: audited key %q client %q tenant %q method %v route %q; the handler's record: key %q client %q tenant %q method %v route %q",
						how, r.KeyID(), r.Client, r.Tenant, r.AuthMethod, r.Route,
						want.KeyID(), want.Client, want.Tenant, want.AuthMethod, want.Route)
				}
			}
			if c.suspend && (want.Client != "acme-hris" || want.Tenant != "acme") {
				t.Errorf("the handler's record names client %q tenant %q, want acme-hris of acme", want.Client, want.Tenant)
			}
		})
	}
}
