// Package clientcrl checks client certificates against the CRLs of their
// CAs, for every listener that takes client certificates: the sidecar's
// (--client-crl) and the collector's intake. The CRLs are parsed and their
// signatures verified against the client CAs before the set that holds them
// is put in force; a handshake only looks its chain up in them. It uses the
// standard library only.
package clientcrl

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Status is what the CRLs in force say of a verified chain.
type Status uint8

const (
	Good    Status = iota // no CRL lists a certificate of the chain, or none covers it
	Revoked               // the CRL of an issuer in the chain lists the certificate it issued
	Expired               // the CRL of an issuer in the chain is past its nextUpdate: fail closed
)

var (
	// oidDeltaCRLIndicator and oidIssuingDistributionPoint mark a delta
	// CRL and a partitioned (scoped) one (RFC 5280, 5.2.4 and 5.2.5):
	// taking either for a complete CRL would accept certificates that
	// the CRLs it needs list, so they are refused.
	oidDeltaCRLIndicator        = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidIssuingDistributionPoint = asn1.ObjectIdentifier{2, 5, 29, 28}
)

// CRL is the CRL in force of one client CA.
type CRL struct {
	Issuer     string    // the CA's subject, RFC 2253, for logs
	CAKey      string    // KeyID of the CA's public key: two CAs of one name (a rollover) apart on /metrics
	This, Next time.Time // thisUpdate and nextUpdate (zero: none given)

	subject, spki []byte              // the CA's raw subject and public key, which signed it
	serials       map[string]struct{} // revoked serial numbers, in decimal
}

// Set holds the client CRLs in force, one per client CA that has one. A
// nil Set (no CRL file) revokes nothing. It is read-only once built.
type Set struct {
	crls []CRL
}

// Parse parses the CRLs of file, its contents data (PEM blocks "X509
// CRL", or DER, one CRL after another), and verifies each one's signature
// against a CA of cas, the certificates of caFile. Of two CRLs of one CA
// the one issued last is kept. An error names the file and, for a CRL no
// CA signed, its issuer.
func Parse(file string, data []byte, caFile string, cas []*x509.Certificate) (*Set, error) {
	ders, err := crlDERs(data)
	if err != nil {
		return nil, fmt.Errorf("client CRL file %q: %w", file, err)
	}
	rv := &Set{}
	for i, der := range ders {
		c, err := parseCRL(der, caFile, cas)
		if err != nil {
			return nil, fmt.Errorf("client CRL file %q, CRL %d: %w", file, i+1, err)
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
		// pem.Decode skips a block that does not decode, and stops at
		// one cut short: a file caught half written would put fewer
		// CRLs, or an older one, in force.
		if n := bytes.Count(data, []byte("-----BEGIN")); n != len(ders) {
			return nil, fmt.Errorf("holds %d PEM blocks of which %d decode: one is cut short or damaged", n, len(ders))
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
func parseCRL(der []byte, caFile string, cas []*x509.Certificate) (CRL, error) {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return CRL{}, err
	}
	for _, e := range crl.Extensions {
		if e.Id.Equal(oidDeltaCRLIndicator) || e.Id.Equal(oidIssuingDistributionPoint) {
			return CRL{}, fmt.Errorf("the CRL of issuer %q is a delta or partitioned CRL (extension %v), which is not supported: give its complete CRL", crl.Issuer, e.Id)
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
		return CRL{}, err
	}
	c := CRL{
		Issuer: ca.Subject.String(), CAKey: KeyID(ca.RawSubjectPublicKeyInfo), This: crl.ThisUpdate, Next: crl.NextUpdate,
		subject: ca.RawSubject, spki: ca.RawSubjectPublicKeyInfo, serials: make(map[string]struct{}, len(crl.RevokedCertificateEntries)),
	}
	for _, e := range crl.RevokedCertificateEntries {
		c.serials[e.SerialNumber.String()] = struct{}{}
	}
	return c, nil
}

// Follows returns why rv, read at a reload, may not replace old, the set
// in force, or nil. A client CA of cas (those rv goes in force with) that
// has a CRL in old must have one in rv, issued no earlier: a file cut
// between two blocks, or one CRL left out, would stop the checks of that
// CA's certificates altogether (a CA without a CRL revokes nothing), and a
// file restored from a backup would lift the revocations since. A CA no
// longer in cas needs none. A restart takes any file.
func (rv *Set) Follows(old *Set, cas []*x509.Certificate) error {
	if old == nil {
		return nil
	}
	for i := range old.crls {
		o := &old.crls[i]
		for _, ca := range cas {
			if !bytes.Equal(ca.RawSubject, o.subject) || !bytes.Equal(ca.RawSubjectPublicKeyInfo, o.spki) {
				continue
			}
			switch n := rv.of(ca); {
			case n == nil:
				return fmt.Errorf("holds no CRL of CA %q, which the CRLs in force have: a reload may not stop checking that CA's certificates (restart to do so)", o.Issuer)
			case n.This.Before(o.This):
				return fmt.Errorf("its CRL of CA %q was issued %s, before the one in force (%s): a reload may not put an older CRL in force (restart to do so)",
					o.Issuer, n.This.UTC().Format(time.RFC3339), o.This.UTC().Format(time.RFC3339))
			}
			break
		}
	}
	return nil
}

// add puts c in force, in place of an older CRL of its CA.
func (rv *Set) add(c CRL) {
	for i := range rv.crls {
		if o := &rv.crls[i]; bytes.Equal(o.subject, c.subject) && bytes.Equal(o.spki, c.spki) {
			if c.This.After(o.This) {
				*o = c
			}
			return
		}
	}
	rv.crls = append(rv.crls, c)
}

// of returns the CRL of the CA ca, or nil.
func (rv *Set) of(ca *x509.Certificate) *CRL {
	for i := range rv.crls {
		if c := &rv.crls[i]; bytes.Equal(c.subject, ca.RawSubject) && bytes.Equal(c.spki, ca.RawSubjectPublicKeyInfo) {
			return c
		}
	}
	return nil
}

// Check returns what the CRLs say of the verified chains at now: every
// certificate but the root of every chain is looked up in the CRL of the
// certificate after it, when that CA has one (a CA without a CRL revokes
// nothing: RFC 5280 leaves that to local policy). An expired CRL refuses
// whatever its CA issued, as OpenSSL's CRL check does. The issuer and
// serial of the certificate refused are returned for the log.
func (rv *Set) Check(chains [][]*x509.Certificate, now time.Time) (st Status, issuer string, refused *x509.Certificate) {
	if rv == nil || len(rv.crls) == 0 {
		return Good, "", nil
	}
	for _, chain := range chains {
		for i := 0; i+1 < len(chain); i++ {
			c := rv.of(chain[i+1])
			switch {
			case c == nil:
			case !c.Next.IsZero() && !now.Before(c.Next):
				return Expired, c.Issuer, chain[i]
			default:
				if _, ok := c.serials[chain[i].SerialNumber.String()]; ok {
					return Revoked, c.Issuer, chain[i]
				}
			}
		}
	}
	return Good, "", nil
}

// Until returns the unix nanoseconds of the first nextUpdate of the CRLs
// that cover chain, or end when it comes first: past it those CRLs no
// longer vouch for the chain, so a connection kept alive stops
// authenticating then, as a new handshake would be refused.
func (rv *Set) Until(chain []*x509.Certificate, end int64) int64 {
	if rv == nil {
		return end
	}
	for i := 0; i+1 < len(chain); i++ {
		if c := rv.of(chain[i+1]); c != nil && !c.Next.IsZero() {
			end = min(end, c.Next.UnixNano())
		}
	}
	return end
}

// Expired returns how many CRLs in force are past their nextUpdate at now.
func (rv *Set) Expired(now time.Time) int {
	n := 0
	if rv != nil {
		for i := range rv.crls {
			if c := &rv.crls[i]; !c.Next.IsZero() && !now.Before(c.Next) {
				n++
			}
		}
	}
	return n
}

// CRLs returns the CRLs in force, one per CA; the caller must not change
// them.
func (rv *Set) CRLs() []CRL {
	if rv == nil {
		return nil
	}
	return rv.crls
}

// KeyID returns the first 8 bytes of the SHA-256 of spki, in hex.
func KeyID(spki []byte) string {
	sum := sha256.Sum256(spki)
	return hex.EncodeToString(sum[:8])
}

// ParseCAs returns the certificates of the PEM client CA file contents
// b, skipping what CertPool.AppendCertsFromPEM skips.
func ParseCAs(b []byte) ([]*x509.Certificate, error) {
	var cas []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" || len(blk.Headers) != 0 {
			continue // as CertPool.AppendCertsFromPEM skips them
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			continue
		}
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return nil, errors.New("holds no PEM certificate")
	}
	return cas, nil
}
