package certname

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"slices"
	"testing"
	"time"
)

// certificate makes a self-signed certificate with the subject and the URI
// SANs written byte for byte as given (x509.CreateCertificate would write
// a url.URL's String(), which cannot spell "...#").
func certificate(t *testing.T, subject pkix.RDNSequence, uris ...string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rawSubject, err := asn1.Marshal(subject)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), RawSubject: rawSubject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	if len(uris) > 0 {
		var names []asn1.RawValue
		for _, u := range uris {
			names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(u)})
		}
		san, err := asn1.Marshal(names)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidSubjectAltName, Value: san}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func name(attrs ...pkix.AttributeTypeAndValue) pkix.RDNSequence {
	var rdns pkix.RDNSequence
	for _, a := range attrs {
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{a})
	}
	return rdns
}

func TestSpelledURIs(t *testing.T) {
	const admin = "spiffe://cluster.local/ns/acme/sa/admin"
	for _, c := range []struct {
		uris, want []string
	}{
		{[]string{admin}, []string{admin}},
		{[]string{admin + "#"}, nil}, // prints as admin
		{[]string{"spiffe://cluster.local/ns/acme/sa/stranger", admin + "#"}, []string{"spiffe://cluster.local/ns/acme/sa/stranger"}},
		{[]string{"SPIFFE://cluster.local/ns/acme/sa/admin"}, nil}, // the scheme printed lower-case
		{nil, nil},
	} {
		cert := certificate(t, name(pkix.AttributeTypeAndValue{Type: oidCommonName, Value: "x"}), c.uris...)
		if got := URIs(cert); !slices.Equal(got, c.uris) {
			t.Errorf("URIs of %q = %q, want them as spelled", c.uris, got)
		}
		if got := SpelledURIs(cert); !slices.Equal(got, c.want) {
			t.Errorf("SpelledURIs of %q = %q, want %q", c.uris, got, c.want)
		}
	}
}

func TestFaithfulSubject(t *testing.T) {
	cn := func(v string) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oidCommonName, Value: v}
	}
	sn := func(v string) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oidSerialNumber, Value: v}
	}
	o := pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Acme"}
	for _, c := range []struct {
		subject pkix.RDNSequence
		want    bool
	}{
		{name(cn("sidecar")), true},
		{name(o, cn("sidecar"), sn("1")), true},
		{name(o, o), true}, // pkix.Name keeps every organization
		{name(), true},
		{name(cn("intern"), cn("sidecar")), false},
		{name(sn("1"), sn("2")), false},
		{pkix.RDNSequence{{cn("intern"), cn("sidecar")}}, false}, // two in one RDN
	} {
		cert := certificate(t, c.subject)
		if got := FaithfulSubject(cert.RawSubject); got != c.want {
			t.Errorf("FaithfulSubject(%v) = %v, want %v", cert.Subject, got, c.want)
		}
	}
	if FaithfulSubject([]byte{0x30, 0x03, 0x01}) {
		t.Error("FaithfulSubject of a torn DER subject = true, want false")
	}
}
