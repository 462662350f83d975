package collector

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"
)

// serverCert issues a certificate for 127.0.0.1 from ca.
func (ca testCA) serverCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestUnauthenticatedTimeoutOverTLSWithH2: served over TLS (as portcullis
// collector --tls-cert serves it), the intake negotiated HTTP/2 with a
// client that offered it, and an HTTP/2 connection has no header
// timeout: one that sent its preface and settings and nothing more stayed
// open until the idle timeout (1 min), not UnauthTimeout, on a slot of
// its address's unauthenticated cap. The intake speaks HTTP/1.1 only
// (the sidecar's emitter does too), so the timeout holds over TLS.
func TestUnauthenticatedTimeoutOverTLSWithH2(t *testing.T) {
	t.Parallel()
	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// 2 s, not less: the timeout covers the TLS handshake, which took
	// over 200 ms on a loaded machine under -race (tls.Dial: EOF).
	col, err := New(st, Config{Token: aliceToken, UnauthTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ca := newTestCA(t)
	srv := col.HTTPServer()
	srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{ca.serverCert(t)}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	defer func() {
		srv.Close()
		if err := <-done; err != http.ErrServerClosed {
			t.Error(err)
		}
	}()

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p == "h2" {
		// The client preface and an empty SETTINGS frame, then nothing.
		io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
	}
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = io.Copy(io.Discard, c)
	if isTimeout(err) {
		t.Fatalf("an unauthenticated connection (protocol %q) sending nothing was still open after %s, with an UnauthTimeout of 2s",
			c.ConnectionState().NegotiatedProtocol, time.Since(start).Round(time.Second))
	}
}
