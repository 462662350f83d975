package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The collector's intake with --client-crl: a sender certificate its CA's
// CRL lists fails the handshake; a CRL reloaded while a sender holds a
// kept-alive connection refuses that sender's next request on it (401)
// and its next handshake; the refusals and the CRL's nextUpdate are on
// /metrics. Before --client-crl, a stolen sender certificate wrote to the
// trail until it expired. A real collector process, real TLS over
// loopback.
func TestCollectorClientCRL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	write := func(name string, b []byte) string {
		p := filepath.Join(h.dir, name)
		if err := os.WriteFile(p+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".tmp", p); err != nil { // the reload never reads half a file
			t.Fatal(err)
		}
		return p
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sender CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	ca, caKey, caPEM, _ := testCert(t, caTmpl, nil, nil)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, _, srvPEM, srvKey := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "collector"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	sender := func(serial int64) tls.Certificate {
		_, _, certPEM, keyPEM := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "sidecar-" + big.NewInt(serial).String()},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	stolen, kept := sender(3), sender(4)
	crl := func(signer *x509.Certificate, key *ecdsa.PrivateKey, number int64, serials ...int64) []byte {
		tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: time.Now().Add(time.Duration(number-10) * time.Minute), NextUpdate: time.Now().Add(time.Hour)}
		for _, s := range serials {
			tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: time.Now()})
		}
		der, err := x509.CreateRevocationList(rand.Reader, tmpl, signer, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	}
	keyFile, _ := h.collectorFiles("unused-token-0123456789abcdefghijkl")
	crlFile := write("senders.crl", crl(ca, caKey, 1, 3))
	listen, metrics := freeAddr(t), freeAddr(t)
	args := []string{"collector", "--listen", listen, "--metrics-listen", metrics, "--data", filepath.Join(h.dir, "data"), "--signing-key", keyFile,
		"--tls-cert", write("tls.crt", srvPEM), "--tls-key", write("tls.key", srvKey), "--client-ca", write("ca.crt", caPEM)}

	t.Run("a CRL no CA of --client-ca signed stops the start", func(t *testing.T) {
		other, otherKey, _, _ := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "other CA"}, IsCA: true,
			BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, nil, nil)
		bad := write("other.crl", crl(other, otherKey, 1))
		r := portcullisWithin(t, time.Minute, append(args, "--client-crl", bad)...)
		if r.code != 1 || !strings.Contains(r.stderr, bad) || !strings.Contains(r.stderr, "other CA") {
			t.Errorf("exit %d, stderr %q: want 1 naming %s and its issuer", r.code, r.stderr, bad)
		}
		r = portcullisWithin(t, time.Minute, "collector", "--data", h.dir, "--signing-key", keyFile, "--token-file", keyFile, "--client-crl", bad)
		if r.code != 2 || !strings.Contains(r.stderr, "--client-crl") || !strings.Contains(r.stderr, "--client-ca") {
			t.Errorf("without --client-ca: exit %d, stderr %q: want 2 naming both flags", r.code, r.stderr)
		}
	})

	h.start("collector", append(args, "--client-crl", crlFile, "--client-crl-reload", "100ms")...)
	h.serving("the collector's metrics listener", "http://"+metrics+"/healthz")
	dial := func(cert tls.Certificate) (*tls.Conn, error) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", listen,
			&tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}})
		if err != nil {
			return nil, err
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		return c, c.Handshake()
	}
	// get sends an empty batch (an OTLP export of no logs) on c: its
	// status, or 0 when the connection failed (a refused handshake's
	// alert may reach the client only then).
	get := func(c *tls.Conn, br *bufio.Reader) int {
		t.Helper()
		if _, err := io.WriteString(c, "POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"); err != nil {
			return 0
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close && resp.StatusCode == 200 {
			t.Fatalf("the collector closes the connection after an empty batch: the kept-alive connection is untested")
		}
		return resp.StatusCode
	}
	h.until("the listener up", func() (bool, string) {
		c, err := dial(kept)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})

	if c, err := dial(stolen); err == nil {
		if code := get(c, bufio.NewReader(c)); code != 0 {
			t.Fatalf("a revoked sender certificate was answered %d on the connection of its handshake; want the handshake refused", code)
		}
		c.Close()
	}
	c, err := dial(kept)
	if err != nil {
		t.Fatalf("a good sender certificate: %v", err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if code := get(c, br); code != 200 {
		t.Fatalf("a good sender certificate: %d, want 200", code)
	}

	write("senders.crl", crl(ca, caKey, 2, 3, 4))
	h.until("the kept-alive connection refused once the CRL lists its certificate", func() (bool, string) {
		code := get(c, br)
		return code == 401, http.StatusText(code)
	})
	if c2, err := dial(kept); err == nil {
		if code := get(c2, bufio.NewReader(c2)); code != 0 {
			t.Errorf("a new handshake with the certificate the reloaded CRL lists was answered %d; want it refused", code)
		}
		c2.Close()
	}
	h.until("the refusals and the CRL's nextUpdate on /metrics", func() (bool, string) {
		resp, err := http.Get("http://" + metrics + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s := string(b)
		return strings.Contains(s, `portcullis_tls_client_crl_next_update_seconds{issuer="CN=sender CA",ca_key="`) &&
			!strings.Contains(s, `portcullis_collector_sender_cert_refusals_total{reason="revoked"} 0`) &&
			strings.Contains(s, `portcullis_collector_sender_cert_refusals_total{reason="revoked"} `), s
	})
}
