package dataplane

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Client certificate revocation (--client-crl). The CRLs are parsed and
// their signatures verified against the client CAs by the reload, before
// the configuration that holds them is swapped in; a handshake only looks
// its chain up in them (VerifyConnection), once per connection.

// crlStatus is what the CRLs in force say of a verified chain.
type crlStatus uint8

const (
	crlGood    crlStatus = iota // no CRL lists a certificate of the chain, or none covers it
	crlRevoked                  // the CRL of an issuer in the chain lists the certificate it issued
	crlExpired                  // the CRL of an issuer in the chain is past its nextUpdate: fail closed
)

var (
	// oidDeltaCRLIndicator and oidIssuingDistributionPoint mark a delta
	// CRL and a partitioned (scoped) one (RFC 5280, 5.2.4 and 5.2.5):
	// taking either for a complete CRL would accept certificates that
	// the CRLs it needs list, so they are refused.
	oidDeltaCRLIndicator        = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidIssuingDistributionPoint = asn1.ObjectIdentifier{2, 5, 29, 28}
)

// issuerCRL is the CRL in force of one client CA.
type issuerCRL struct {
	subject, spki []byte              // the CA's raw subject and public key, which signed it
	issuer        string              // its subject, RFC 2253, for logs
	caKey         string              // the first 8 bytes of the SHA-256 of spki, in hex: two CAs of one name (a rollover) apart on /metrics
	this, next    time.Time           // thisUpdate and nextUpdate (zero: none given)
	serials       map[string]struct{} // revoked serial numbers, in decimal
}

// revocations are the client CRLs in force, one per client CA that has
// one. The zero value (no --client-crl) revokes nothing. It is read-only
// once built.
type revocations struct {
	crls []issuerCRL
}

// parseCRLs parses the CRLs of file, its contents data (PEM blocks "X509
// CRL", or DER, one CRL after another), and verifies each one's signature
// against a CA of cas, the certificates of caFile. Of two CRLs of one CA
// the one issued last is kept. An error names the file and, for a CRL no
// CA signed, its issuer.
func parseCRLs(file string, data []byte, caFile string, cas []*x509.Certificate) (*revocations, error) {
	ders, err := crlDERs(data)
	if err != nil {
		return nil, fmt.Errorf("dataplane: client CRL file %q: %w", file, err)
	}
	rv := &revocations{}
	for i, der := range ders {
		c, err := parseCRL(der, caFile, cas)
		if err != nil {
			return nil, fmt.Errorf("dataplane: client CRL file %q, CRL %d: %w", file, i+1, err)
		}
		rv.add(c)
	}
	return rv, nil
}

// crlDERs splits data into the DER of its CRLs.
func crlDERs(data []byte) ([][]byte, error) {
	var ders [][]byte
	if bytes.Contains(data, []byte("-----BEGIN")) {
		for rest := data; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			if b.Type != "X509 CRL" {
				return nil, fmt.Errorf("holds a PEM block %q, want only \"X509 CRL\"", b.Type)
			}
			ders = append(ders, b.Bytes)
		}
	} else {
		// Not trimmed of spaces: a DER signature may end in a byte
		// that is one.
		for rest := data; len(rest) > 0; {
			var v asn1.RawValue
			var err error
			if rest, err = asn1.Unmarshal(rest, &v); err != nil {
				return nil, fmt.Errorf("neither PEM nor DER: %w", err)
			}
			ders = append(ders, v.FullBytes)
		}
	}
	if len(ders) == 0 {
		return nil, errors.New("holds no CRL")
	}
	return ders, nil
}

// parseCRL parses one CRL and finds the CA of cas that signed it.
func parseCRL(der []byte, caFile string, cas []*x509.Certificate) (issuerCRL, error) {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return issuerCRL{}, err
	}
	for _, e := range crl.Extensions {
		if e.Id.Equal(oidDeltaCRLIndicator) || e.Id.Equal(oidIssuingDistributionPoint) {
			return issuerCRL{}, fmt.Errorf("the CRL of issuer %q is a delta or partitioned CRL (extension %v), which is not supported: give its complete CRL", crl.Issuer, e.Id)
		}
	}
	var ca *x509.Certificate
	var why error // of a CA of the CRL's issuer name: a wrong key, or no cRLSign key usage
	for _, c := range cas {
		if !bytes.Equal(c.RawSubject, crl.RawIssuer) {
			continue
		}
		if why = crl.CheckSignatureFrom(c); why == nil {
			ca = c
			break
		}
	}
	if ca == nil {
		err := fmt.Errorf("the CRL of issuer %q is not signed by a CA of the client CA file %q", crl.Issuer, caFile)
		if why != nil {
			err = fmt.Errorf("%w (the CA of that name: %w)", err, why)
		}
		return issuerCRL{}, err
	}
	c := issuerCRL{
		subject: ca.RawSubject, spki: ca.RawSubjectPublicKeyInfo, issuer: ca.Subject.String(), caKey: keyID(ca.RawSubjectPublicKeyInfo),
		this: crl.ThisUpdate, next: crl.NextUpdate, serials: make(map[string]struct{}, len(crl.RevokedCertificateEntries)),
	}
	for _, e := range crl.RevokedCertificateEntries {
		c.serials[e.SerialNumber.String()] = struct{}{}
	}
	return c, nil
}

// add puts c in force, in place of an older CRL of its CA.
func (rv *revocations) add(c issuerCRL) {
	for i := range rv.crls {
		if o := &rv.crls[i]; bytes.Equal(o.subject, c.subject) && bytes.Equal(o.spki, c.spki) {
			if c.this.After(o.this) {
				*o = c
			}
			return
		}
	}
	rv.crls = append(rv.crls, c)
}

// of returns the CRL of the CA ca, or nil.
func (rv *revocations) of(ca *x509.Certificate) *issuerCRL {
	for i := range rv.crls {
		if c := &rv.crls[i]; bytes.Equal(c.subject, ca.RawSubject) && bytes.Equal(c.spki, ca.RawSubjectPublicKeyInfo) {
			return c
		}
	}
	return nil
}

// check returns what the CRLs say of the verified chains at now: every
// certificate but the root of every chain is looked up in the CRL of the
// certificate after it, when that CA has one (a CA without a CRL revokes
// nothing, README "TLS and mTLS on the listener"). An expired CRL refuses
// whatever its CA issued, as OpenSSL's CRL check does. The issuer and
// serial of the certificate refused are returned for the log.
func (rv *revocations) check(chains [][]*x509.Certificate, now time.Time) (st crlStatus, issuer string, refused *x509.Certificate) {
	if rv == nil || len(rv.crls) == 0 {
		return crlGood, "", nil
	}
	for _, chain := range chains {
		for i := 0; i+1 < len(chain); i++ {
			c := rv.of(chain[i+1])
			switch {
			case c == nil:
			case !c.next.IsZero() && !now.Before(c.next):
				return crlExpired, c.issuer, chain[i]
			default:
				if _, ok := c.serials[chain[i].SerialNumber.String()]; ok {
					return crlRevoked, c.issuer, chain[i]
				}
			}
		}
	}
	return crlGood, "", nil
}

// until returns the unix nanoseconds of the first nextUpdate of the CRLs
// that cover chain, or end when it comes first: past it those CRLs no
// longer vouch for the chain, so a connection kept alive stops
// authenticating then, as a new handshake would be refused.
func (rv *revocations) until(chain []*x509.Certificate, end int64) int64 {
	if rv == nil {
		return end
	}
	for i := 0; i+1 < len(chain); i++ {
		if c := rv.of(chain[i+1]); c != nil && !c.next.IsZero() {
			end = min(end, c.next.UnixNano())
		}
	}
	return end
}

// expired returns how many CRLs in force are past their nextUpdate at now.
func (rv *revocations) expired(now time.Time) int {
	n := 0
	if rv != nil {
		for i := range rv.crls {
			if c := &rv.crls[i]; !c.next.IsZero() && !now.Before(c.next) {
				n++
			}
		}
	}
	return n
}

// keyID returns the first 8 bytes of the SHA-256 of spki, in hex.
func keyID(spki []byte) string {
	sum := sha256.Sum256(spki)
	return hex.EncodeToString(sum[:8])
}

// appendNextUpdate appends a sample of
// portcullis_tls_client_crl_next_update_seconds per CRL in force that
// has a nextUpdate: the seconds from now until it, negative past it. It
// lets an alert fire before a CRL expires and its CA's certificates are
// all refused (deploy/observability/rules.yml,
// PortcullisClientCRLExpiringSoon).
func (rv *revocations) appendNextUpdate(b []byte, now time.Time) []byte {
	if rv == nil {
		return b
	}
	for i := range rv.crls {
		c := &rv.crls[i]
		if c.next.IsZero() {
			continue
		}
		b = append(b, `portcullis_tls_client_crl_next_update_seconds{issuer="`...)
		b = appendLabelValue(b, c.issuer)
		b = append(append(append(b, `",ca_key="`...), c.caKey...), `"} `...)
		b = strconv.AppendInt(b, int64(c.next.Sub(now)/time.Second), 10)
		b = append(b, '\n')
	}
	return b
}
