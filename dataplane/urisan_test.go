package dataplane

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"
)

// issueRawURIs is issueName with URI SANs written as given, byte for
// byte: x509.CreateCertificate writes a url.URL's String(), which cannot
// spell some of them ("...#", an empty fragment).
func (a *authority) issueRawURIs(t *testing.T, cn string, uris []string) leaf {
	t.Helper()
	var names []asn1.RawValue
	for _, u := range uris {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(u)})
	}
	san, err := asn1.Marshal(names)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: cn, Organization: []string{"Acme"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: san}},
	}
	return a.sign(t, tmpl)
}

// A URI SAN that Go's parser prints as another string is no identity:
// url.URL drops an empty fragment, so "spiffe://.../sa/admin#", which a
// CA checking the URI it signs as text ("not the admin's ID", a template
// or a prefix it matches) lets through, printed as the admin's SPIFFE ID
// and authenticated as acme-admin, on the privileged class that takes
// mtls alone (attack173). The same rule as for a subject that prints as
// another (TestTLSSubjectWithTwoCommonNames): the identity is the URI
// as the certificate spells it, or none. The admin's own certificate
// still passes.
func TestTLSURISANPrintedAsAnotherRefused(t *testing.T) {
	serverCA, clientCA := newAuthority(t, "server CA"), newAuthority(t, "client CA")
	st := startStack(t, func(c *Config) { c.TLS = tlsFiles(t, serverCA.issue(t, "sidecar", nil, true), clientCA) })
	swapDoc(t, st.store, mtlsPolicy)
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	for _, uris := range [][]string{
		{adminSPIFFE + "#"},
		{strangerID, adminSPIFFE + "#"},
	} {
		c := clientCA.issueRawURIs(t, "intern", uris)
		r, err := tlsCall(t, st.addr, roots, &c.tls, "PUT", "/v1/admin/settings", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != 401 {
			t.Errorf("URI SANs %q: status %d (%s), want 401", uris, r.status, r.body)
		}
	}
	if n := len(st.up.received()); n != 0 {
		t.Errorf("the upstream got %d requests, want none", n)
	}
	admin := clientCA.issueRawURIs(t, "admin", []string{adminSPIFFE})
	if r, err := tlsCall(t, st.addr, roots, &admin.tls, "PUT", "/v1/admin/settings", nil); err != nil || r.status != 200 {
		t.Errorf("the admin's own SPIFFE ID: %v %d %s, want 200", err, r.status, r.body)
	}
}
