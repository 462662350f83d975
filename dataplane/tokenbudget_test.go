package dataplane

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/dataplane/jwt"
	"github.com/portcullis/portcullis/limiter"
)

// doFrom is do over a connection from the loopback address local
// (127.0.0.0/8 is all loopback on Linux), so a test can be several
// sources.
func doFrom(t *testing.T, local, addr, method, target string, headers map[string]string, body string) reply {
	t.Helper()
	return doOn(t, dialFrom(t, local, addr), method, target, headers, body) // listener_test.go
}

// doFromTLS is doFrom over TLS, trusting any certificate (the test's own).
func doFromTLS(t *testing.T, local, addr, method, target string, headers map[string]string, body string) reply {
	t.Helper()
	return doOn(t, tls.Client(dialFrom(t, local, addr), &tls.Config{InsecureSkipVerify: true}), method, target, headers, body)
}

// doOn is do over c, which it closes.
func doOn(t *testing.T, c net.Conn, method, target string, headers map[string]string, body string) reply {
	t.Helper()
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n", method, target)
	for k, v := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	// A request refused before its body is answered and its connection
	// closed, unread: the write may fail while the answer is there to read.
	_, werr := io.WriteString(c, b.String())
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading response: %v (writing the request: %v)", err, werr)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(rb)}
}

// forge signs claims as the demo issuer would, with kid demo-1, but with
// a key of the forger's own: a token that passes every check but the
// signature.
func forge(t *testing.T, claims map[string]any) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "EdDSA", "typ": "at+jwt", "kid": "demo-1"}) + "." + enc(claims)
	return signing + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(signing)))
}

// TestForgedTokensSpendTheSourceBudget: a token of a known issuer and kid
// with valid claims and a forged signature costs a full signature
// verification (BenchmarkJWTForged: 28-174 µs), every time it is sent,
// so one address without any credential could keep the sidecar's cores
// verifying. Each source address now has a budget of failed
// verifications; past it a token not verified before is refused
// unverified, 429 token_failures_limited with Retry-After, while tokens
// verified before, and other addresses, are served as before. Before its
// body, where the source is not known, tokens share one budget, and a
// good token refused for its want is asked to come again.
func TestForgedTokensSpendTheSourceBudget(t *testing.T) {
	st := startStack(t, func(c *Config) { c.TokenFailures = limiter.NewLimit(3, time.Hour, 3) })
	serveDemoJWKS(t, st, nil)
	verifier := st.srv.prepared.Load().verifier
	verified := func() uint64 {
		s := verifier.Stats()
		return s.ByStatus[jwt.BadSignature] + s.ByStatus[jwt.OK]
	}
	good := bearer(mint(t, demoClaims("acme-hris", "acme", "read:users write:records")))
	const a, b = "127.0.0.2", "127.0.0.3"
	if r := doFrom(t, a, st.addr, "GET", "/v1/users/9", good, ""); r.status != 200 {
		t.Fatalf("good token: %d %s", r.status, r.body)
	}
	verifier.WaitCache()
	forged := func() map[string]string { return bearer(forge(t, demoClaims("acme-hris", "acme", "read:users"))) }
	for i := range 3 {
		if r := doFrom(t, a, st.addr, "GET", "/v1/users/9", forged(), ""); r.status != 401 {
			t.Fatalf("forged token %d within the budget: %d %s, want 401", i, r.status, r.body)
		}
	}
	before, up := verified(), len(st.up.received())
	r := doFrom(t, a, st.addr, "GET", "/v1/users/9", forged(), "")
	if r.status != 429 {
		t.Fatalf("forged token past the budget: %d %s, want 429", r.status, r.body)
	}
	if e := r.errorBody(t); e.Error != "token_failures_limited" {
		t.Errorf("error %q, want token_failures_limited", e.Error)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if got := verified(); got != before {
		t.Errorf("a token past the budget was verified (%d signature checks)", got-before)
	}
	if rec := st.sink.last(t); rec.Decision != audit.TokenFailuresLimited || rec.AuthMethod != audit.AuthJWT || rec.Status != 429 {
		t.Errorf("audited %v by %v, %d; want token_failures_limited by jwt, 429", rec.Decision, rec.AuthMethod, rec.Status)
	}
	if len(st.up.received()) != up {
		t.Error("the service got a request past the budget")
	}
	if r := doFrom(t, a, st.addr, "GET", "/v1/users/9", good, ""); r.status != 200 {
		t.Errorf("token verified before, from the spent source: %d %s, want 200", r.status, r.body)
	}
	if r := doFrom(t, b, st.addr, "GET", "/v1/users/9", forged(), ""); r.status != 401 {
		t.Errorf("forged token from another source: %d %s, want 401 (a budget of its own)", r.status, r.body)
	}

	// Before the body: forged tokens declaring 20 KB spend their own
	// source's budget, the connection's peer (headSource), where they
	// spent one budget that every request checked before its body shared:
	// a good new token with such a body, from another source, was then
	// refused 429 until verified by that answer.
	body := strings.Repeat("x", 20<<10)
	const c, d = "127.0.0.4", "127.0.0.5"
	for range 3 {
		doFrom(t, c, st.addr, "POST", "/v1/records", forged(), body)
	}
	if r := doFrom(t, c, st.addr, "POST", "/v1/records", forged(), body); r.status != 429 {
		t.Errorf("forged token with a body, past the budget: %d %s, want 429", r.status, r.body)
	}
	if rec := st.sink.last(t); rec.Decision != audit.TokenFailuresLimited || rec.SourceIP != netip.MustParseAddr(c) {
		t.Errorf("forged token with a body, past the budget: audited %v from %v, want token_failures_limited from %s", rec.Decision, rec.SourceIP, c)
	}
	fresh := demoClaims("acme-hris", "acme", "write:records")
	fresh["jti"] = "fresh-1"
	tok := bearer(mint(t, fresh))
	if r := doFrom(t, d, st.addr, "POST", "/v1/records", tok, body); r.status != 200 {
		t.Errorf("good new token with a body from %s, after forged ones with bodies spent %s's budget: %d %s, want 200", d, c, r.status, r.body)
	}
	fresh["jti"] = "fresh-2"
	if r := doFrom(t, c, st.addr, "POST", "/v1/records", bearer(mint(t, fresh)), body); r.status != 429 || r.errorBody(t).Error != "token_failures_limited" {
		t.Errorf("good new token with a body from %s, its budget spent: %d %s, want 429 token_failures_limited", c, r.status, r.body)
	}
}
