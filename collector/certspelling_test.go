package collector

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/http"
	"net/url"
	"testing"
)

// TestCertIdentityAsSpelled: a sender's certificate names it as the
// certificate spells it, or not at all. Go's parsed forms print some
// certificates as others: url.URL drops an empty fragment, so the URI SAN
// "spiffe://.../sa/sidecar#" printed as the sidecar's SPIFFE id, and a
// subject with two common names keeps the last, so "CN=intern,
// CN=sidecar" was CN sidecar. Either certificate was sender
// "cert:<the sidecar's id>": its records stood in the trail as the
// sidecar's, and its batch ids, filed under the sidecar's, had the
// sidecar's own batches of those ids answered as duplicates and never
// stored (attack173). Such a certificate names no one: 401. The
// sidecar's own certificate is still its sender.
func TestCertIdentityAsSpelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, ca := certCollector(t, dir, Config{})
	const sidecar = "spiffe://cluster.local/ns/acme/sa/sidecar"
	san, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 6, Bytes: []byte(sidecar + "#")}})
	if err != nil {
		t.Fatal(err)
	}
	cn := asn1.ObjectIdentifier{2, 5, 4, 3}
	for i, c := range []struct {
		name string
		cert tls.Certificate
	}{
		{"URI SAN with an empty fragment", ca.issue(t, 40, &x509.Certificate{ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: san}}})},
		{"two common names", ca.issue(t, 41, &x509.Certificate{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: cn, Value: "intern"}, {Type: cn, Value: "sidecar"}}}})},
	} {
		if code, e := sendAs(t, srv, c.cert, "b-"+string(rune('1'+i)), sampleRecord(1)); code != http.StatusUnauthorized {
			t.Errorf("%s: %d %q, want 401", c.name, code, e)
		}
	}
	for _, r := range storedRecords(t, dir) {
		t.Errorf("record stored under sender %q, want none", r.Sender)
	}
	u, _ := url.Parse(sidecar)
	if code, e := sendAs(t, srv, ca.issue(t, 42, &x509.Certificate{URIs: []*url.URL{u}}), "b-1", sampleRecord(1)); code != http.StatusOK {
		t.Errorf("the sidecar's own certificate: %d %q, want 200", code, e)
	}
	if code, e := sendAs(t, srv, ca.issue(t, 43, &x509.Certificate{Subject: pkix.Name{CommonName: "sidecar"}}), "b-1", sampleRecord(1)); code != http.StatusOK {
		t.Errorf("CN=sidecar: %d %q, want 200", code, e)
	}
	senders := map[string]bool{}
	for _, r := range storedRecords(t, dir) {
		senders[r.Sender] = true
	}
	if !senders["cert:"+sidecar] || !senders["cert:sidecar"] || len(senders) != 2 {
		t.Errorf("stored senders %v, want cert:%s and cert:sidecar", senders, sidecar)
	}
}
