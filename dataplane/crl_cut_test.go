package dataplane

import (
	"fmt"
	"testing"
	"time"
)

// TestTLSClientCRLCutShortKeepsTheCRLInForce: a CRL file of two PEM
// blocks caught half written by a reload (a file rewritten in place,
// not renamed over) was read as the one block that decoded, and pem
// skips a block that does not: the set put in force held an older CRL
// of the CA, and the certificate the newer one revokes was served again.
// A file with a PEM block that does not decode is now refused whole,
// logged and counted, and the CRLs in force stay.
func TestTLSClientCRLCutShortKeepsTheCRLInForce(t *testing.T) {
	c := newCRLCase(t)
	now := time.Now()
	older := c.clientCA.crl(t, now.Add(-2*time.Hour), now.Add(time.Hour))
	newer := c.clientCA.crl(t, now.Add(-time.Hour), now.Add(time.Hour), c.hris.serial)
	st := startStack(t, func(cfg *Config) { cfg.TLS = withCRL(t, c.files, crlPEM(newer)) })
	swapDoc(t, st.store, mtlsPolicy)
	if status, err := served(t, st.addr, c.roots, &c.hris, "GET", "/v1/users/7"); err == nil {
		t.Fatalf("hris, revoked by the CRL in force: status %d, want the handshake refused", status)
	}
	for _, cut := range []struct {
		name string
		file []byte
	}{
		{"the last block cut short", func() []byte { b := crlPEM(older, newer); return b[:len(b)-len(crlPEM(newer))/2] }()},
		{"a damaged block before a good one", append([]byte("-----BEGIN X509 CRL-----\nnot base64!\n-----END X509 CRL-----\n"), crlPEM(older)...)},
	} {
		reloaded, failed := st.srv.certs.reloaded.Load(), st.srv.certs.failed.Load()
		writeFile(t, c.files.ClientCRLFile, cut.file)
		pollUntil(t, "the CRL file read again", func() (bool, string) {
			r, f := st.srv.certs.reloaded.Load(), st.srv.certs.failed.Load()
			return r > reloaded || f > failed, fmt.Sprintf("%d reloads, %d failed", r, f)
		})
		if n := st.srv.certs.reloaded.Load(); n != reloaded {
			t.Errorf("%s: swapped in (%d reloads), want the load refused", cut.name, n-reloaded)
		}
		if status, err := served(t, st.addr, c.roots, &c.hris, "GET", "/v1/users/7"); err == nil {
			t.Errorf("%s: hris served (%d); want the CRL in force to refuse it", cut.name, status)
		}
	}
}
