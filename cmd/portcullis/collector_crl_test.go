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
	r := newCollectorCRLRig(t)
	h := r.h
	stolen, kept := r.sender(3), r.sender(4)
	crlFile := r.write("senders.crl", r.crl(1, 3))

	t.Run("a CRL no CA of --client-ca signed stops the start", func(t *testing.T) {
		other, otherKey, _, _ := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "other CA"}, IsCA: true,
			BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, nil, nil)
		bad := r.write("other.crl", signCRL(t, other, otherKey, crlTimes(1)))
		res := portcullisWithin(t, time.Minute, append(r.args, "--client-crl", bad)...)
		if res.code != 1 || !strings.Contains(res.stderr, bad) || !strings.Contains(res.stderr, "other CA") {
			t.Errorf("exit %d, stderr %q: want 1 naming %s and its issuer", res.code, res.stderr, bad)
		}
		res = portcullisWithin(t, time.Minute, "collector", "--data", h.dir, "--signing-key", r.keyFile, "--token-file", r.keyFile, "--client-crl", bad)
		if res.code != 2 || !strings.Contains(res.stderr, "--client-crl") || !strings.Contains(res.stderr, "--client-ca") {
			t.Errorf("without --client-ca: exit %d, stderr %q: want 2 naming both flags", res.code, res.stderr)
		}
	})

	r.start(crlFile, kept)
	if c, err := r.dial(stolen); err == nil {
		if code := r.get(c, bufio.NewReader(c)); code != 0 {
			t.Fatalf("a revoked sender certificate was answered %d on the connection of its handshake; want the handshake refused", code)
		}
		c.Close()
	}
	c, err := r.dial(kept)
	if err != nil {
		t.Fatalf("a good sender certificate: %v", err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if code := r.get(c, br); code != 200 {
		t.Fatalf("a good sender certificate: %d, want 200", code)
	}

	r.write("senders.crl", r.crl(2, 3, 4))
	h.until("the kept-alive connection refused once the CRL lists its certificate", func() (bool, string) {
		code := r.get(c, br)
		return code == 401, http.StatusText(code)
	})
	if c2, err := r.dial(kept); err == nil {
		if code := r.get(c2, bufio.NewReader(c2)); code != 0 {
			t.Errorf("a new handshake with the certificate the reloaded CRL lists was answered %d; want it refused", code)
		}
		c2.Close()
	}
	h.until("the refusals and the CRL's nextUpdate on /metrics", func() (bool, string) {
		s := r.scrape()
		return strings.Contains(s, `portcullis_tls_client_crl_next_update_seconds{issuer="CN=sender CA",ca_key="`) &&
			!strings.Contains(s, `portcullis_collector_sender_cert_refusals_total{reason="revoked"} 0`) &&
			strings.Contains(s, `portcullis_collector_sender_cert_refusals_total{reason="revoked"} `), s
	})
}

// collectorCRLRig is a collector with TLS, --client-ca and --client-crl,
// the sender CA that signs its certificates and CRLs, and the client side
// of its intake: a real process, real TLS over loopback.
type collectorCRLRig struct {
	t                *testing.T
	h                *killHarness
	ca               *x509.Certificate
	caKey            *ecdsa.PrivateKey
	roots            *x509.CertPool
	keyFile          string
	listen, metricsA string
	args             []string // the collector's, without --client-crl
}

func newCollectorCRLRig(t *testing.T) *collectorCRLRig {
	t.Helper()
	r := &collectorCRLRig{t: t, h: newKillHarness(t)}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sender CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	var caPEM []byte
	r.ca, r.caKey, caPEM, _ = testCert(t, caTmpl, nil, nil)
	r.roots = x509.NewCertPool()
	r.roots.AddCert(r.ca)
	_, _, srvPEM, srvKey := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "collector"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, r.ca, r.caKey)
	r.keyFile, _ = r.h.collectorFiles("unused-token-0123456789abcdefghijkl")
	r.listen, r.metricsA = freeAddr(t), freeAddr(t)
	r.args = []string{"collector", "--listen", r.listen, "--metrics-listen", r.metricsA, "--data", filepath.Join(r.h.dir, "data"), "--signing-key", r.keyFile,
		"--tls-cert", r.write("tls.crt", srvPEM), "--tls-key", r.write("tls.key", srvKey), "--client-ca", r.write("ca.crt", caPEM)}
	return r
}

// write writes b to name in the rig's folder by a rename, so a reload
// never reads half of it, and returns its path.
func (r *collectorCRLRig) write(name string, b []byte) string {
	r.t.Helper()
	p := filepath.Join(r.h.dir, name)
	if err := os.WriteFile(p+".tmp", b, 0o600); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		r.t.Fatal(err)
	}
	return p
}

// sender returns a sender certificate of the CA with serial.
func (r *collectorCRLRig) sender(serial int64) tls.Certificate {
	r.t.Helper()
	_, _, certPEM, keyPEM := testCert(r.t, &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "sidecar-" + big.NewInt(serial).String()},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, r.ca, r.caKey)
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// crlTimes is a CRL template numbered number, issued number-10 minutes
// from now (a higher number is a later CRL), next due in an hour.
func crlTimes(number int64) *x509.RevocationList {
	return &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: time.Now().Add(time.Duration(number-10) * time.Minute), NextUpdate: time.Now().Add(time.Hour)}
}

// crl returns the PEM of the CA's CRL numbered number listing serials.
func (r *collectorCRLRig) crl(number int64, serials ...int64) []byte {
	r.t.Helper()
	return signCRL(r.t, r.ca, r.caKey, crlTimes(number), serials...)
}

// signCRL signs tmpl, listing serials, with signer and returns its PEM.
func signCRL(t *testing.T, signer *x509.Certificate, key *ecdsa.PrivateKey, tmpl *x509.RevocationList, serials ...int64) []byte {
	t.Helper()
	for _, s := range serials {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: time.Now()})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, signer, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// start starts the collector with --client-crl crlFile, read again every
// 100 ms, and waits until a handshake with up's certificate succeeds.
func (r *collectorCRLRig) start(crlFile string, up tls.Certificate) {
	r.t.Helper()
	r.startEvery(crlFile, up, "100ms")
}

// startEvery is start with --client-crl-reload every.
func (r *collectorCRLRig) startEvery(crlFile string, up tls.Certificate, every string) {
	r.t.Helper()
	r.h.start("collector", append(r.args, "--client-crl", crlFile, "--client-crl-reload", every)...)
	r.h.serving("the collector's metrics listener", "http://"+r.metricsA+"/healthz")
	r.h.until("the listener up", func() (bool, string) {
		c, err := r.dial(up)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
}

// dial makes a TLS connection to the intake with cert and completes its
// handshake.
func (r *collectorCRLRig) dial(cert tls.Certificate) (*tls.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", r.listen,
		&tls.Config{RootCAs: r.roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}})
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c, c.Handshake()
}

// get sends an empty batch (an OTLP export of no logs) on c: its status,
// or 0 when the connection failed (a refused handshake's alert may reach
// the client only then).
func (r *collectorCRLRig) get(c *tls.Conn, br *bufio.Reader) int {
	r.t.Helper()
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
		r.t.Fatalf("the collector closes the connection after an empty batch: the kept-alive connection is untested")
	}
	return resp.StatusCode
}

// sends reports the status of an empty batch on a new connection with
// cert: 0 when the handshake or the connection failed.
func (r *collectorCRLRig) sends(cert tls.Certificate) int {
	r.t.Helper()
	c, err := r.dial(cert)
	if err != nil {
		return 0
	}
	defer c.Close()
	return r.get(c, bufio.NewReader(c))
}

// scrape returns the collector's /metrics page, or the error.
func (r *collectorCRLRig) scrape() string {
	resp, err := http.Get("http://" + r.metricsA + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// log returns the collector's log so far.
func (r *collectorCRLRig) log() string {
	b, _ := os.ReadFile(filepath.Join(r.h.dir, "collector.log"))
	return string(b)
}
