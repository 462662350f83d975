package dataplane

import (
	"bufio"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// Finding (review58): a streamed response was judged again only when a
// push replaced the tables (stillAllowed compared their pointer), but a
// JWKS refresh that drops a key does not replace them: it moves the
// issuer's epoch (jwt.Verifier.Current), as a CRL reload moves a
// certificate's state. A bulk export under a token signed by a key the
// provider took out (a compromised key) ran to its end, where a request
// waiting for a connection at that moment is refused
// (TestTokenKeyDroppedWhileWaitingRefused). The stream now asks lapsed,
// at the time the request was sent, as recheck does.
func TestJWKSKeyDroppedCutsStreamingResponse(t *testing.T) {
	const after = "AFTER-THE-REFRESH"
	ps := startPausedStream(t, after)
	st := startStack(t, func(c *Config) { c.Upstream = ps.addr })
	next, err := newEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	both := nextKeySet(next)
	var set atomic.Pointer[string]
	set.Store(&both)
	serveJWKS(t, st, &set)
	claims := demoClaims("acme-hris", "acme", "read:users")
	claims["jti"] = "streamed-under-the-dropped-key"
	tok := signDemo(t, next, claims)

	c := dialFor(t, st.addr)
	resp := ps.first(t, c, bufio.NewReader(c), "GET /v1/users/1 HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nAuthorization: Bearer "+tok+"\r\n\r\n", "before the refresh")
	old := demoJWKS
	set.Store(&old)
	if err := st.srv.prepared.Load().verifier.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	rest, err := ps.rest(resp)
	rec := st.sink.waitLast(t, "the streamed response")
	if err == nil || strings.Contains(rest, after) {
		t.Errorf("after its signing key left the JWKS: the client got %q and the body ended with error %v; want it cut, nothing of %q", rest, err, after)
	}
	if rec.Decision != audit.Unauthenticated || rec.BytesOut != int64(len(ps.piece)) {
		t.Errorf("audited %v, %d bytes out; want %v, %d", rec.Decision, rec.BytesOut, audit.Unauthenticated, len(ps.piece))
	}
}

// A token that expires while its response streams is not cut, even when
// a push (another client's key revoked) or a JWKS refresh has the stream
// judged again: the judgement is at the time the request was sent.
func TestTokenExpiredDuringStreamNotCut(t *testing.T) {
	const after = "AFTER-THE-EXPIRY"
	ps := startPausedStream(t, after)
	st := startStack(t, func(c *Config) { c.Upstream = ps.addr })
	swapDoc(t, st.store, func(d *policy.Document) {
		for i := range d.Issuers {
			d.Issuers[i].ClockSkew = "0s"
		}
	})
	claims := demoClaims("acme-hris", "acme", "read:users")
	exp := time.Now().Unix() + 1
	claims["exp"] = exp
	tok := mint(t, claims)
	c := dialFor(t, st.addr)
	resp := ps.first(t, c, bufio.NewReader(c), "GET /v1/users/1 HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nAuthorization: Bearer "+tok+"\r\n\r\n", "before the expiry")
	for time.Now().Unix() <= exp+1 {
		time.Sleep(100 * time.Millisecond)
	}
	live := policy.Live{RevokedKeys: map[string]bool{"acmeadm1": true}}
	prev := st.store.Load()
	live.Revision = prev.Revision + 1
	next, err := policy.Amend(prev, live, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.store.Swap(next)
	rest, err := ps.rest(resp)
	rec := st.sink.waitLast(t, "the streamed response")
	if err != nil || rest != after || rec.Decision != audit.Allowed {
		t.Errorf("a token expired during its download, then a push: rest %q, %v; audited %v; want %q whole, allowed", rest, err, rec.Decision, after)
	}
}

// So is a response streaming to a client certificate that a CRL loaded
// meanwhile revokes: the CRL replaces no tables either.
func TestCRLRevocationCutsStreamingResponse(t *testing.T) {
	const after = "AFTER-THE-CRL"
	ps := startPausedStream(t, after)
	cc := newCRLCase(t)
	now := time.Now()
	st := startStack(t, func(cfg *Config) {
		cfg.Upstream = ps.addr
		cfg.TLS = withCRL(t, cc.files, crlPEM(cc.clientCA.crl(t, now.Add(-time.Hour), now.Add(time.Hour))))
	})
	swapDoc(t, st.store, mtlsPolicy)
	tc, err := dialTLS(st.addr, cc.roots, &cc.admin.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.c.Close()
	resp := ps.first(t, tc.c, tc.br, "POST /v1/exports HTTP/1.1\r\nHost: svc\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", "before the CRL")
	writeFile(t, cc.files.ClientCRLFile, crlPEM(cc.clientCA.crl(t, now, now.Add(time.Hour), cc.admin.serial)))
	pollUntil(t, "a new handshake of the certificate the new CRL revokes is refused", func() (bool, string) {
		status, err := served(t, st.addr, cc.roots, &cc.admin, "GET", "/v1/users/7")
		return err != nil, fmt.Sprintf("status %d", status)
	})
	rest, err := ps.rest(resp)
	rec := st.sink.withRequestID(t, resp.Header.Get("X-Request-Id"))
	if err == nil || strings.Contains(rest, after) {
		t.Errorf("after a CRL revoked its certificate: the client got %q and the body ended with error %v; want it cut, nothing of %q", rest, err, after)
	}
	if rec.Decision != audit.CertRevoked || rec.BytesOut != int64(len(ps.piece)) {
		t.Errorf("audited %v, %d bytes out; want %v, %d", rec.Decision, rec.BytesOut, audit.CertRevoked, len(ps.piece))
	}
}
