package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// freshRig runs a sidecar serving TLS with client certificates whose
// --tls-reload is an hour, so that only a handshake's look at the client
// CA and CRL files (reload.Watch) can read a change of them in a test
// (TestSidecarClientCRLReadAtHandshake, TestSidecarClientCAReadAtHandshake).
type freshRig struct {
	t     *testing.T
	dir   string
	f     sidecarFlags
	logs  *lockedBuffer
	roots *x509.CertPool
}

func newFreshRig(t *testing.T) *freshRig {
	return &freshRig{t: t, dir: t.TempDir(), logs: &lockedBuffer{}, roots: x509.NewCertPool()}
}

// write puts b at name in the rig's directory as a Secret's update does
// (a rename over it), returning its path.
func (r *freshRig) write(name string, b []byte) string {
	p := filepath.Join(r.dir, name)
	if err := os.WriteFile(p+".tmp", b, 0o600); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		r.t.Fatal(err)
	}
	return p
}

// start runs the sidecar with the example policy and files tls (its
// reload made an hour), trusting root for its server certificate, until
// the test ends.
func (r *freshRig) start(files listenTLSFlags, root *x509.Certificate) {
	t := r.t
	policyFile, err := filepath.Abs("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files.reload = time.Hour
	r.f = sidecarFlags{policyFile: policyFile, listen: freeAddr(t), upstream: slowUpstream(t, 0), admin: freeAddr(t),
		auditFile: filepath.Join(r.dir, "audit.jsonl"), drain: 5 * time.Second, spoolDir: filepath.Join(r.dir, "spool"), tls: files}
	if err := r.f.tls.check(); err != nil {
		t.Fatal(err)
	}
	r.roots.AddCert(root)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sidecar(ctx, r.f, zerolog.New(r.logs)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sidecar: %v", err)
		}
	})
	poll(t, "readiness", func() bool { return get(t, "http://"+r.f.admin+"/readyz", "") == 200 })
}

// served makes a new connection with cert and reports whether its
// handshake passed: a response came, whatever its status (the public
// route, out of the privileged one's rate limit). The certificate is
// sent whatever CAs the sidecar names (crypto/tls's Certificates sends
// none of a CA it does not name, and the public route then serves the
// connection without one), as curl does.
func (r *freshRig) served(cert tls.Certificate) (bool, string) {
	send := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.roots, GetClientCertificate: send}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + r.f.listen + "/v1/status")
	if err != nil {
		return false, err.Error()
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return true, "status " + strconv.Itoa(resp.StatusCode)
}

// refusedOnce writes bad, which does not parse, at name, and checks the
// sidecar keeps refusing refused and serving good, the failure logged
// once across several looks.
func (r *freshRig) refusedOnce(name, bad string, refused, good tls.Certificate) {
	t := r.t
	const failed = "TLS files changed but cannot be loaded"
	r.write(name, []byte(bad))
	keep := func() {
		if ok, last := r.served(refused); ok {
			t.Fatalf("the refused certificate after %s was damaged: %s; want what is in force kept", name, last)
		}
	}
	pollUntil(t, pollWait, "the damaged "+name+" logged", func() (bool, string) {
		keep() // a handshake looks at the file
		return strings.Contains(r.logs.String(), failed), "not logged"
	})
	for range 3 { // past the once-a-second look
		keep()
		time.Sleep(1100 * time.Millisecond)
	}
	if n := strings.Count(r.logs.String(), failed); n != 1 {
		t.Errorf("the damaged %s logged %d times; want once", name, n)
	}
	if ok, last := r.served(good); !ok {
		t.Errorf("a certificate in force, %s damaged: %s; want it served", name, last)
	}
}
