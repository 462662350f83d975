package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// Finding (review92): with --hold-port and TLS on the listener, the held
// port answered its 503 in plain text. A client of the TLS listener reads
// that as a failed handshake ("first record does not look like a TLS
// handshake"), a connection error rather than the 503 the docs promise,
// and one it may retry elsewhere or report as the sidecar broken.

// TestHeldPortAnswersOverTLS runs the sidecar with TLS on its listener and
// --hold-port in front of an app that stays up after SIGTERM (ctx
// cancelled): once the drain is over, an HTTPS request to the held port
// must read a 503 over TLS. When the app's port refuses, the sidecar
// returns.
func TestHeldPortAnswersOverTLS(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	ca, caKey, _, _ := testCert(t, caTmpl, nil, nil)
	_, _, srvPEM, srvKey := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sidecar"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	app, err := net.Listen("tcp", "127.0.0.1:0") // the app, ignoring SIGTERM
	if err != nil {
		t.Fatal(err)
	}
	appSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go appSrv.Serve(app)
	t.Cleanup(func() { appSrv.Close() })
	policyFile, err := filepath.Abs("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := sidecarFlags{policyFile: policyFile, listen: freeAddr(t), upstream: app.Addr().String(), admin: freeAddr(t),
		auditFile: filepath.Join(dir, "audit.jsonl"), drain: time.Second, spoolDir: filepath.Join(dir, "spool"), holdPort: true,
		tls: listenTLSFlags{cert: write("tls.crt", srvPEM), key: write("tls.key", srvKey), reload: time.Second}}
	if err := f.tls.check(); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sidecar(ctx, f, zerolog.New(&logs)) }()
	poll(t, "readiness", func() bool { return get(t, "http://"+f.admin+"/readyz", "") == 200 })
	cancel()
	poll(t, "the held port", func() bool { return strings.Contains(logs.String(), "holding the listen port") })

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: roots}}}
	for i := range 3 {
		resp, err := client.Get("https://" + f.listen + "/v1/status")
		if err != nil {
			t.Fatalf("HTTPS request %d to the held port: %v; want a 503 over TLS", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("HTTPS request %d to the held port: %s, want 503", i, resp.Status)
		}
	}
	appSrv.Close() // the app exits
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("sidecar: %v", err)
		}
	case <-time.After(killWait):
		t.Fatal("the sidecar did not return once the app was gone")
	}
}
