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
	otherCA := newAuthority(t, "second client CA")
	writeFile(t, c.files.ClientCAFile, append(append([]byte(nil), c.clientCA.pem...), otherCA.pem...))
	now := time.Now()
	older := c.clientCA.crl(t, now.Add(-2*time.Hour), now.Add(time.Hour))
	newer := c.clientCA.crl(t, now.Add(-time.Hour), now.Add(time.Hour), c.hris.serial)
	other := otherCA.crl(t, now.Add(-time.Hour), now.Add(time.Hour))
	st := startStack(t, func(cfg *Config) { cfg.TLS = withCRL(t, c.files, crlPEM(newer, other)) })
	swapDoc(t, st.store, mtlsPolicy)
	if status, err := served(t, st.addr, c.roots, &c.hris, "GET", "/v1/users/7"); err == nil {
		t.Fatalf("hris, revoked by the CRL in force: status %d, want the handshake refused", status)
	}
	// reload writes file and reports whether a poll that read it swapped
	// it in. A file that fails is read again at every poll, so failures
	// are counted from after the write, and a refusal counts once two
	// polls failed: the first may have read the file before (the test was
	// flaky under -race, taking such a failure for the answer).
	reload := func(file []byte) (swapped bool) {
		t.Helper()
		reloaded := st.srv.certs.reloaded.Load()
		writeFile(t, c.files.ClientCRLFile, file)
		failed := st.srv.certs.failed.Load()
		pollUntil(t, "the CRL file read again", func() (bool, string) {
			r, f := st.srv.certs.reloaded.Load(), st.srv.certs.failed.Load()
			return r > reloaded || f >= failed+2, fmt.Sprintf("%d reloads, %d failed", r, f)
		})
		return st.srv.certs.reloaded.Load() != reloaded
	}
	for _, cut := range []struct {
		name string
		file []byte
	}{
		{"the last block cut short", func() []byte { b := crlPEM(older, newer); return b[:len(b)-len(crlPEM(newer))/2] }()},
		{"a damaged block before a good one", append([]byte("-----BEGIN X509 CRL-----\nnot base64!\n-----END X509 CRL-----\n"), crlPEM(older)...)},
		// Whole files that would lift the revocation: before, each was
		// put in force and hris was served.
		{"cut between its blocks, the CA's CRL left out", crlPEM(other)},
		{"an older CRL of the CA (a file restored from a backup)", crlPEM(older, other)},
	} {
		if reload(cut.file) {
			t.Errorf("%s: swapped in, want the load refused", cut.name)
		}
		if status, err := served(t, st.addr, c.roots, &c.hris, "GET", "/v1/users/7"); err == nil {
			t.Errorf("%s: hris served (%d); want the CRL in force to refuse it", cut.name, status)
		}
	}
	// A later CRL of each CA is put in force as before.
	if !reload(crlPEM(c.clientCA.crl(t, now.Add(-time.Minute), now.Add(time.Hour)), other)) {
		t.Fatal("a later CRL of each CA refused")
	}
	if status, err := served(t, st.addr, c.roots, &c.hris, "GET", "/v1/users/7"); err != nil || status != 200 {
		t.Errorf("hris, no longer listed by the CRL in force: %d %v, want 200", status, err)
	}
}
