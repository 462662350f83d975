package main

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"testing"
)

// TestSidecarClientCAReadAtHandshake: the sidecar's --client-ca changed
// only at the --tls-reload poll (10 s by default), so the client
// certificates of a CA removed from the bundle (compromised) were served
// until the tick, while the collector reads its own at the next
// handshake. A change of the file is now read at the next handshake that
// looks (at most a second after the last look). The poll here is an
// hour: only that look can read it. A damaged file then keeps the CAs in
// force, logged once.
func TestSidecarClientCAReadAtHandshake(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a sidecar over TLS")
	}
	r := newFreshRig(t)
	authority := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		ca, key, caPEM, _ := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
		return ca, key, caPEM
	}
	caA, keyA, pemA := authority("CA A")
	caB, keyB, pemB := authority("CA B")
	_, _, srvPEM, srvKey := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "sidecar"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, caA, keyA)
	client := func(ca *x509.Certificate, key *ecdsa.PrivateKey) tls.Certificate {
		spiffe, _ := url.Parse("spiffe://cluster.local/ns/acme/sa/admin-console")
		_, _, certPEM, keyPEM := testCert(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "admin-console"},
			URIs: []*url.URL{spiffe}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, ca, key)
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	r.start(listenTLSFlags{cert: r.write("tls.crt", srvPEM), key: r.write("tls.key", srvKey),
		clientCA: r.write("ca.crt", append(append([]byte{}, pemA...), pemB...))}, caA)
	ofA, ofB := client(caA, keyA), client(caB, keyB)
	if ok, last := r.served(ofB); !ok {
		t.Fatalf("a certificate of CA B, in the client CA file: %s; want it served", last)
	}
	r.write("ca.crt", pemA) // CA B removed
	pollUntil(t, pollWait, "a certificate of CA B, removed from the client CA file, refused at a handshake", func() (bool, string) {
		ok, last := r.served(ofB)
		return !ok, last
	})
	if ok, last := r.served(ofA); !ok {
		t.Errorf("a certificate of CA A, still in the client CA file: %s; want it served", last)
	}
	r.refusedOnce("ca.crt", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", ofB, ofA)
}
