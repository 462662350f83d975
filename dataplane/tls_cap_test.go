package dataplane

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// A certificate file swapped in over 1 MiB (a valid certificate after
// 2 MiB of lines the PEM decoder skips) is not loaded at a reload: the
// certificate in force stays, and the log names the file and the cap.
// Before, the file was read whole at every poll and the certificate in it
// swapped in.
func TestTLSReloadRefusesAHugeFile(t *testing.T) {
	ca := newAuthority(t, "server CA")
	first, second := ca.issue(t, "sidecar", nil, true), ca.issue(t, "sidecar", nil, true)
	files := tlsFiles(t, first, nil)
	var logs lockedBuffer
	st := startStack(t, func(c *Config) { c.TLS = files; c.Logger = zerolog.New(&logs) })
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	failed := st.srv.certs.failed.Load()
	pad := bytes.Repeat([]byte("# not PEM\n"), (2<<20)/10)
	writeFile(t, files.KeyFile, second.keyPEM)
	writeFile(t, files.CertFile, append(pad, second.certPEM...))
	pollUntil(t, "the reload of a 2 MiB certificate file fails", func() (bool, string) {
		n := st.srv.certs.failed.Load()
		return n > failed && strings.Contains(logs.String(), "over the cap of 1 MiB"), fmt.Sprintf("%d failed loads, log %q", n, logs.String())
	})
	if log := logs.String(); !strings.Contains(log, files.CertFile) {
		t.Errorf("log %q does not name the file %s", log, files.CertFile)
	}
	c, err := dialTLS(st.addr, roots, nil)
	if err != nil {
		t.Fatalf("after a file over the cap: %v", err)
	}
	defer c.c.Close()
	if got := c.c.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(first.serial) != 0 {
		t.Errorf("after a file over the cap, served serial %v, want the one in force, %v", got, first.serial)
	}
}
