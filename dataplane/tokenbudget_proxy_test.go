package dataplane

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
)

// TestRefusedBodyChargesTheForwardedSource: behind a trusted proxy, a
// request refused before its body (a token not verified before, the
// shared budget spent) was answered by verifying its token on the budget
// of the proxy's address, not the client's, and audited with the proxy as
// its source. One client sending forged tokens with bodies spent the
// budget every client behind the proxy shares there, and a good new token
// with a body was then refused unverified for as long as the flood went
// on. The answer to a refused body now charges, and audits, the source
// the forwarded headers name, as the handler does.
func TestRefusedBodyChargesTheForwardedSource(t *testing.T) {
	st := startStack(t, func(c *Config) { c.TokenFailures = limiter.NewLimit(2, time.Hour, 2) })
	serveDemoJWKS(t, st, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.9/32"} })
	const proxy = "127.0.0.9"
	body := strings.Repeat("x", 20<<10)
	from := func(h map[string]string, src string) map[string]string {
		h["X-Forwarded-For"] = src
		return h
	}
	for range 4 {
		forged := bearer(forge(t, demoClaims("acme-hris", "acme", "write:records")))
		doFrom(t, proxy, st.addr, "POST", "/v1/records", from(forged, "203.0.113.7"), body)
	}
	r := doFrom(t, proxy, st.addr, "POST", "/v1/records", from(bearer(forge(t, demoClaims("acme-hris", "acme", "write:records"))), "203.0.113.7"), body)
	if r.status != 429 || r.errorBody(t).Error != "token_failures_limited" {
		t.Fatalf("forged token with a body, its forwarded source's budget spent: %d %s, want 429 token_failures_limited", r.status, r.body)
	}
	if rec := st.sink.last(t); rec.SourceIP != netip.MustParseAddr("203.0.113.7") {
		t.Errorf("refused body audited from %v, want the forwarded source 203.0.113.7", rec.SourceIP)
	}
	fresh := demoClaims("acme-hris", "acme", "write:records")
	fresh["jti"] = "fresh-behind-proxy"
	if r := doFrom(t, proxy, st.addr, "POST", "/v1/records", from(bearer(mint(t, fresh)), "198.51.100.7"), body); r.status != 200 {
		t.Errorf("good new token with a body from another client behind the proxy: %d %s, want 200 (its own budget, checked before the body too)", r.status, r.body)
	}
}

// TestCallerListenerChargesTheSourceBudget: on a connection Serve did not
// accept itself, a token checked before its body was charged to the zero
// address, where the handler charges the connection's peer: every such
// connection shared one budget of failures, and one client sending
// forged tokens with bodies over 16 KiB had another client's good new
// token with such a body refused 429 token_failures_limited. The source
// is now the connection's RemoteAddr, as for connections Serve accepted,
// and behind a trusted proxy the address the forwarded headers name: on
// a listener of the caller's (its connections are wrapped now,
// TestCallerListenerFollowed) and on the sidecar's own TLS (a TLS
// listener of the caller's, whose connections passed unwrapped, is
// refused now: TestServeRefusesCallerTLSListener).
func TestCallerListenerChargesTheSourceBudget(t *testing.T) {
	files := tlsFiles(t, newAuthority(t, "server CA").issue(t, "sidecar", nil, true), nil)
	body := strings.Repeat("x", 20<<10)
	claims := func(jti string) map[string]any {
		c := demoClaims("acme-hris", "acme", "write:records")
		c["jti"] = jti
		return c
	}
	behind := func(src string, tok string) map[string]string {
		h := bearer(tok)
		h["X-Forwarded-For"] = src
		return h
	}
	for _, l := range []struct {
		name      string
		tls       *TLS                // the stack's Config.TLS
		serve     func(*stack) string // the address sent to
		do        func(*testing.T, string, string, string, string, map[string]string, string) reply
		a, b, src string // two sources, and the forwarded ones' last octet
	}{
		{"a listener of the caller's", nil, func(st *stack) string { return startCallerListener(t, st) }, doFrom, "127.0.0.2", "127.0.0.3", "7"}, // conn_test.go
		{"the sidecar's own TLS", files, func(st *stack) string { return st.addr }, doFromTLS, "127.0.0.4", "127.0.0.5", "8"},
	} {
		st := startStack(t, func(c *Config) { c.TokenFailures, c.TLS = limiter.NewLimit(2, time.Hour, 2), l.tls })
		serveDemoJWKS(t, st, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.9/32"} })
		addr := l.serve(st)
		spend := func(from string, h func() map[string]string) {
			t.Helper()
			for range 2 {
				l.do(t, from, addr, "POST", "/v1/records", h(), body)
			}
			if r := l.do(t, from, addr, "POST", "/v1/records", h(), body); r.status != 429 || r.errorBody(t).Error != "token_failures_limited" {
				t.Fatalf("%s: forged tokens with bodies from %s, past the budget: %d %s, want 429 token_failures_limited", l.name, from, r.status, r.body)
			}
		}
		spend(l.a, func() map[string]string { return bearer(forge(t, claims("forged"))) })
		if r := l.do(t, l.b, addr, "POST", "/v1/records", bearer(mint(t, claims("fresh-"+l.b))), body); r.status != 200 {
			t.Errorf("%s: a good new token with a body from %s, after forged ones from %s spent its budget: %d %s, want 200", l.name, l.b, l.a, r.status, r.body)
		}
		// Behind a trusted proxy, the forwarded source's budget.
		spend("127.0.0.9", func() map[string]string { return behind("203.0.113."+l.src, forge(t, claims("forged"))) })
		if r := l.do(t, "127.0.0.9", addr, "POST", "/v1/records", behind("198.51.100."+l.src, mint(t, claims("fresh-proxy-"+l.src))), body); r.status != 200 {
			t.Errorf("%s: a good new token with a body from another client behind the proxy: %d %s, want 200", l.name, r.status, r.body)
		}
	}
}
