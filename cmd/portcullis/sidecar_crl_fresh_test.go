package main

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"
)

// TestSidecarClientCRLReadAtHandshake: the sidecar's --client-crl
// changed only at the --tls-reload poll (10 s by default), so a client
// certificate a CRL written since revokes was served until the tick. A
// change of the file is now read at the next handshake that looks (at
// most a second after the last look), as the collector's is. The poll
// here is an hour: only that look can read it. A damaged file then keeps
// the revocation, logged once.
func TestSidecarClientCRLReadAtHandshake(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a sidecar over TLS")
	}
	r := newFreshRig(t)
	ca, caKey, caPEM, _ := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}, nil, nil)
	_, _, srvPEM, srvKey := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sidecar"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, caKey)
	client := func(serial int64) tls.Certificate {
		spiffe, _ := url.Parse("spiffe://cluster.local/ns/acme/sa/admin-console")
		_, _, certPEM, keyPEM := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "admin-console"},
			URIs: []*url.URL{spiffe}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, caKey)
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	crl := func(number int64, key *ecdsa.PrivateKey, serials ...int64) []byte {
		tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
		for _, s := range serials {
			tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: big.NewInt(s), RevocationTime: time.Now()})
		}
		der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	}
	r.start(listenTLSFlags{cert: r.write("tls.crt", srvPEM), key: r.write("tls.key", srvKey), clientCA: r.write("ca.crt", caPEM),
		clientCRL: r.write("ca.crl", crl(1, caKey, 9))}, ca)
	revoked, good := client(3), client(4)
	if ok, last := r.served(revoked); !ok {
		t.Fatalf("a certificate no CRL lists yet: %s; want it served", last)
	}
	r.write("ca.crl", crl(2, caKey, 3))
	pollUntil(t, pollWait, "the certificate the CRL written since lists refused at a handshake", func() (bool, string) {
		ok, last := r.served(revoked)
		return !ok, last
	})
	if ok, last := r.served(good); !ok {
		t.Errorf("a certificate the CRL does not list: %s; want it served", last)
	}
	r.refusedOnce("ca.crl", "-----BEGIN X509 CRL-----\nnot base64\n-----END X509 CRL-----\n", revoked, good)
}
