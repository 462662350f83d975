package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestCollectorClientCRLOfRotatedCA: with --client-crl, the CRLs were
// read against the --client-ca CAs of the start, so once --client-ca was
// re-read with a new CA, that CA's CRL was refused at every reload ("no
// client CA signed it") and its revoked sender certificates were taken
// until a restart. The CRL reload now reads the CAs the file holds.
func TestCollectorClientCRLOfRotatedCA(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	r := newCollectorCRLRig(t)
	oldSender := r.sender(3)
	crlFile := r.write("senders.crl", r.crl(1))
	r.start(crlFile, oldSender)

	newCA, newKey, newCAPEM, issue := newSenderCA(t)
	good, revoked := issue(7), issue(8)
	oldPEM := pemOfCert(r.ca)
	r.write("ca.crt", append(oldPEM, newCAPEM...))
	r.write("senders.crl", append(r.crl(2), signCRL(t, newCA, newKey, crlTimes(1), 8)...))
	r.h.until("a sender certificate of the CA added to --client-ca served", func() (bool, string) { return r.served(good) })
	r.h.until("the certificate the new CA's CRL lists refused", func() (bool, string) {
		ok, last := r.served(revoked)
		return !ok, last
	})
	if ok, last := r.served(good); !ok {
		t.Errorf("a certificate of the new CA its CRL does not list: %s; want 200", last)
	}
}

// TestCollectorClientCRLReadWithNewCA: a CA added to --client-ca was
// trusted from the first handshake after the file was re-read (at most a
// second later), but its CRL only from the next --client-crl-reload tick
// (10 s by default): until then its revoked sender certificates were
// taken. The CRLs are now read again as soon as the CAs change, before
// the new CAs are in force. The reload here is an hour: only the change
// of CAs can load the new CA's CRL.
func TestCollectorClientCRLReadWithNewCA(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	r := newCollectorCRLRig(t)
	oldSender := r.sender(3)
	crlFile := r.write("senders.crl", r.crl(1))
	r.startEvery(crlFile, oldSender, "1h")

	newCA, newKey, newCAPEM, issue := newSenderCA(t)
	good, revoked := issue(7), issue(8)
	// The CRL first, as a CA's CRL is published before the CA is trusted:
	// no reload tick reads it (nor could: no CA of the start signed it).
	r.write("senders.crl", append(r.crl(2), signCRL(t, newCA, newKey, crlTimes(1), 8)...))
	r.write("ca.crt", append(pemOfCert(r.ca), newCAPEM...))
	r.h.until("a sender certificate of the CA added to --client-ca served", func() (bool, string) { return r.served(good) })
	if ok, last := r.served(revoked); ok {
		t.Errorf("the certificate the new CA's CRL lists: %s, served; want it refused from the first handshake that trusts its CA", last)
	}
}

// TestCollectorClientCRLWrittenAfterItsCA: docs/tls.md says to publish
// a CA's CRL before adding the CA to --client-ca, but one written after
// (the CA added, its certificates served, then a CRL listing one) waited
// for the next --client-crl-reload tick, its revoked certificate served
// until then. A change of the file is now read at the next handshake
// that looks (at most a second after the last look). The reload here is
// an hour: only that look can read it.
func TestCollectorClientCRLWrittenAfterItsCA(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	r := newCollectorCRLRig(t)
	oldSender := r.sender(3)
	crlFile := r.write("senders.crl", r.crl(1))
	r.startEvery(crlFile, oldSender, "1h")

	newCA, newKey, newCAPEM, issue := newSenderCA(t)
	good, revoked := issue(7), issue(8)
	r.write("ca.crt", append(pemOfCert(r.ca), newCAPEM...))
	r.h.until("a sender certificate of the CA added to --client-ca served (no CRL of it yet)", func() (bool, string) { return r.served(revoked) })
	r.write("senders.crl", append(r.crl(2), signCRL(t, newCA, newKey, crlTimes(1), 8)...))
	r.h.until("the certificate the new CA's CRL, written after the CA, lists refused", func() (bool, string) {
		ok, last := r.served(revoked)
		return !ok, last
	})
	if ok, last := r.served(good); !ok {
		t.Errorf("a certificate of the new CA its CRL does not list: %s; want 200", last)
	}
	// A file that does not parse keeps the CRLs in force, said once.
	r.write("senders.crl", []byte("-----BEGIN X509 CRL-----\nnot base64\n-----END X509 CRL-----\n"))
	r.h.until("the damaged CRL file logged", func() (bool, string) {
		if ok, last := r.served(revoked); ok { // a handshake looks at the file
			t.Fatalf("the revoked certificate after the CRL file was damaged: %s; want the CRLs in force kept", last)
		}
		return strings.Contains(r.log(), "client CRL not reloaded"), "not logged"
	})
	for range 3 { // past the once-a-second look
		if ok, last := r.served(revoked); ok {
			t.Fatalf("the revoked certificate after the CRL file was damaged: %s; want the CRLs in force kept", last)
		}
		time.Sleep(1100 * time.Millisecond)
	}
	if n := strings.Count(r.log(), "client CRL not reloaded"); n != 1 {
		t.Errorf("the damaged CRL file logged %d times; want once", n)
	}
}

// newSenderCA makes a sender CA beside the rig's, its key and PEM, and a
// function issuing sender certificates of it.
func newSenderCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey, []byte, func(serial int64) tls.Certificate) {
	t.Helper()
	ca, key, caPEM, _ := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(5), Subject: pkix.Name{CommonName: "new sender CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, nil, nil)
	issue := func(serial int64) tls.Certificate {
		_, _, certPEM, keyPEM := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "sidecar-new-" + big.NewInt(serial).String()},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, key)
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return ca, key, caPEM, issue
}

// served reports whether a batch sent over a new connection with cert is
// answered 200, and what was answered: a status, or the dial's error.
func (r *collectorCRLRig) served(cert tls.Certificate) (bool, string) {
	c, err := r.dial(cert)
	if err != nil {
		return false, err.Error()
	}
	defer c.Close()
	code := r.get(c, bufio.NewReader(c))
	return code == 200, "status " + big.NewInt(int64(code)).String()
}

func pemOfCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}
