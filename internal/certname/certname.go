// Package certname reads a certificate's names as the certificate spells
// them, for the callers that turn a client certificate into an identity
// (the sidecar's listener, the collector's intake). crypto/x509's parsed
// forms do not always print back what was signed: a url.URL drops an
// empty fragment ("spiffe://td/ns/acme/sa/admin#" prints as the admin's
// SPIFFE ID), and a pkix.Name keeps only the last common name and serial
// number of a subject naming either twice ("CN=intern, CN=admin"). A CA
// checks the text it signs, so a name whose parsed form differs from its
// spelling is no name at all.
package certname

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
)

var (
	oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidCommonName     = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidSerialNumber   = asn1.ObjectIdentifier{2, 5, 4, 5}
)

// URIs returns the certificate's URI subject alternative names as it
// spells them, in order: the strings x509 parsed cert.URIs from. It is
// nil when the extension cannot be read (x509 parsed it, so only for a
// certificate not made by x509.ParseCertificate).
func URIs(cert *x509.Certificate) []string {
	var out []string
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		var seq asn1.RawValue
		if rest, err := asn1.Unmarshal(ext.Value, &seq); err != nil || len(rest) > 0 {
			return nil
		}
		for b := seq.Bytes; len(b) > 0; {
			var v asn1.RawValue
			var err error
			if b, err = asn1.Unmarshal(b, &v); err != nil {
				return nil
			}
			if v.Class == asn1.ClassContextSpecific && v.Tag == 6 { // uniformResourceIdentifier
				out = append(out, string(v.Bytes))
			}
		}
	}
	return out
}

// SpelledURIs returns the URI names of cert whose parsed form prints as
// the certificate spells them, in order; the others are left out.
func SpelledURIs(cert *x509.Certificate) []string {
	spelled := URIs(cert)
	var out []string
	for i, u := range cert.URIs {
		if s := u.String(); i < len(spelled) && spelled[i] == s {
			out = append(out, s)
		}
	}
	return out
}

// FaithfulSubject reports whether the parsed subject of a certificate
// prints every attribute of raw, its DER subject: pkix.Name keeps one
// common name and one serial number, the last, so a subject naming either
// twice would print as another subject.
func FaithfulSubject(raw []byte) bool {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) > 0 {
		return false
	}
	var cn, sn int
	for _, rdn := range rdns {
		for _, atv := range rdn {
			switch {
			case atv.Type.Equal(oidCommonName):
				cn++
			case atv.Type.Equal(oidSerialNumber):
				sn++
			}
		}
	}
	return cn <= 1 && sn <= 1
}
