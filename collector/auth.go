package collector

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/certname"
	"github.com/portcullis/portcullis/policy"
)

// MinTokenBytes is the shortest collector token New accepts: a
// token is a shared secret, and 32 random bytes cannot be guessed.
const MinTokenBytes = 32

// SenderToken is one named bearer token: every batch presented with Token
// is stored as sent by Name (issue 21 item 5). Tenants, when set, are the
// only tenants the sender's records may name (see Config.CertTenants);
// nil means any tenant, for a sidecar in front of a multi-tenant service.
type SenderToken struct {
	Name    string
	Token   string
	Tenants []string
}

// senderDigest is a token held as its SHA-256 digest with the identity it
// stands for.
type senderDigest struct {
	sum      [32]byte
	identity string // "token:" + name
}

// ErrTokenFile is returned (wrapped) by ParseTokenFile for a file that
// does not hold valid `name token` lines.
var ErrTokenFile = errors.New("collector: bad token file")

// ParseTokenFile parses a collector token file: one `name token` pair per
// line, one per sidecar or deployment, optionally followed by
// `tenants=a,b`, binding the sender to those tenants (without it, any
// tenant); blank lines and lines starting with # are skipped. A file
// holding a single bare token (the old format) names it "default". Names
// are unique, of letters, digits, '.', '_' and '-'. Errors name the line,
// never the token.
func ParseTokenFile(data []byte) ([]SenderToken, error) {
	lines, nums, err := tokenLines(data)
	if err != nil {
		return nil, err
	}
	if bareToken(lines) {
		return []SenderToken{{Name: "default", Token: lines[0][0]}}, nil
	}
	out := make([]SenderToken, 0, len(lines))
	names := map[string]bool{}
	for i, f := range lines {
		if len(f) < 2 || len(f) > 3 || !validSenderName(f[0]) {
			return nil, fmt.Errorf("%w: line %d is not `name token [tenants=a,b]` (name of letters, digits, '.', '_', '-')", ErrTokenFile, nums[i])
		}
		if len(f[0]) >= MinTokenBytes {
			// A name as long as a token may be one: a line written
			// `token name` with a long name was taken, the token stored as
			// its sender's name in every record, the name its credential
			// (TestTokenFileSwappedLineWithLongNameRefused).
			return nil, fmt.Errorf("%w: line %d: its name (the first field) is %d bytes, as long as a token; a name is shorter than %d (a line is `name token`, the name first)", ErrTokenFile, nums[i], len(f[0]), MinTokenBytes)
		}
		t := SenderToken{Name: f[0], Token: f[1]}
		if len(f) == 3 {
			tenants, err := parseTenantList(f[2])
			if err != nil {
				return nil, fmt.Errorf("%w: line %d is not `name token [tenants=a,b]`%s: %w", ErrTokenFile, nums[i], lineSender(f[0]), err)
			}
			t.Tenants = tenants
		}
		if len(t.Token) < MinTokenBytes {
			which := "its token (the second field)"
			if lineSender(f[0]) != "" {
				which = fmt.Sprintf("collector token %q", f[0])
			}
			return nil, fmt.Errorf("%w: line %d: %s is %d bytes, shorter than %d (a line is `name token`, the name first); make one with `openssl rand -hex 32`", ErrTokenFile, nums[i], which, len(t.Token), MinTokenBytes)
		}
		if names[t.Name] {
			return nil, fmt.Errorf("%w: line %d: its name%s is an earlier line's (a line is `name token`, the name first); give every sender its own", ErrTokenFile, nums[i], lineSender(f[0]))
		}
		names[t.Name] = true
		out = append(out, t)
	}
	return out, nil
}

// lineSender quotes name, the first field of a token file's line, for
// an error about the line: ` (sender "name")`, or nothing for a name as
// long as a token, which may be one. A line written `token name` has the
// token first, and errors quoted it whole as the sender's name
// (TestCollectorTokenFileWrittenBackwardsNamesNoToken).
func lineSender(name string) string {
	if len(name) >= MinTokenBytes {
		return ""
	}
	return fmt.Sprintf(" (sender %q)", name)
}

// BareTokenFile reports whether data is a token file of the old format,
// one bare token without a name, which ParseTokenFile names "default":
// every record and metric of its sender says "default", and a second
// sender cannot be added beside it without naming both. The collector
// warns of it at start (TestCollectorWarnsOfBareTokenFile).
func BareTokenFile(data []byte) bool {
	lines, _, err := tokenLines(data)
	return err == nil && bareToken(lines)
}

// bareToken reports whether the lines of a token file are one bare token.
func bareToken(lines [][]string) bool { return len(lines) == 1 && len(lines[0]) == 1 }

// tokenLines returns the fields of the lines of a token file that are
// not blank or comments, and their line numbers.
func tokenLines(data []byte) (lines [][]string, nums []int, err error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line != "" && line[0] != '#' {
			lines, nums = append(lines, strings.Fields(line)), append(nums, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrTokenFile, err)
	}
	return lines, nums, nil
}

// parseTenantList parses `tenants=a,b`: one or more tenant names, each
// one a policy tenant can have (policy.ValidTenantID): a name no tenant
// can have would start the collector and then refuse every batch of the
// sender 403 tenant_not_bound.
func parseTenantList(field string) ([]string, error) {
	list, ok := strings.CutPrefix(field, "tenants=")
	if !ok {
		// Not quoted: a line's third field may be a token mistyped there.
		return nil, errors.New("its third field is not tenants=NAME[,NAME...]")
	}
	tenants := strings.Split(list, ",")
	for _, t := range tenants {
		if !policy.ValidTenantID(t) {
			return nil, fmt.Errorf("tenants= names %q, which no policy tenant can be: a tenant id must match %s (lower case ASCII letters, digits, '.', '_', '-', at most 63 bytes)", truncate(t, 64), policy.TenantIDRule)
		}
	}
	return tenants, nil
}

// ErrCertTenantsFile is returned (wrapped) by ParseCertTenants for a file
// that does not hold valid `identity tenants=a,b` lines.
var ErrCertTenantsFile = errors.New("collector: bad certificate tenants file")

// ParseCertTenants parses the certificate binding file: one `identity
// tenants=a,b` line per client certificate identity (its first URI SAN,
// else first DNS SAN, else subject common name, as the sender is named
// "cert:<identity>"); blank lines and lines starting with # are skipped.
// An identity not listed may send records of any tenant.
func ParseCertTenants(data []byte) (map[string][]string, error) {
	out := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%w: line %d is not `identity tenants=a,b`", ErrCertTenantsFile, n)
		}
		if _, dup := out[f[0]]; dup {
			return nil, fmt.Errorf("%w: line %d names identity %q a second time", ErrCertTenantsFile, n, truncate(f[0], 64))
		}
		tenants, err := parseTenantList(f[1])
		if err != nil {
			return nil, fmt.Errorf("%w: line %d (identity %q): %w", ErrCertTenantsFile, n, truncate(f[0], 64), err)
		}
		out[f[0]] = tenants
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertTenantsFile, err)
	}
	return out, nil
}

func validSenderName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// senderDigests checks the configured tokens (long enough, unique names
// and tokens) and returns their digests.
func senderDigests(cfg Config) ([]senderDigest, error) {
	tokens := cfg.Tokens
	if cfg.Token != "" {
		tokens = append([]SenderToken{{Name: "default", Token: cfg.Token}}, tokens...)
	}
	var out []senderDigest
	names := map[string]bool{}
	sums := map[[32]byte]bool{}
	for _, t := range tokens {
		if len(t.Token) < MinTokenBytes {
			return nil, fmt.Errorf("collector: collector token %q is %d bytes, shorter than %d; make one with `openssl rand -hex 32`", t.Name, len(t.Token), MinTokenBytes)
		}
		if !validSenderName(t.Name) || names[t.Name] {
			return nil, fmt.Errorf("collector: collector token name %q is invalid or used twice", t.Name)
		}
		sum := sha256.Sum256([]byte(t.Token))
		if sums[sum] {
			return nil, fmt.Errorf("collector: collector token %q is the same as another token; give every sender its own", t.Name)
		}
		names[t.Name], sums[sum] = true, true
		out = append(out, senderDigest{sum: sum, identity: "token:" + t.Name})
	}
	return out, nil
}

// sender returns who sent r: "cert:<identity>" for a verified client
// certificate, "token:<name>" for a known bearer token, or "" when r is
// not authenticated. Every token digest is compared, in constant time, so
// the answer costs the same whichever token (or none) matched.
func (c *Collector) sender(r *http.Request) string {
	if c.cfg.ClientCertAuth && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		if c.cfg.CertRefused != nil && c.cfg.CertRefused(r.TLS.VerifiedChains) {
			return "" // revoked since the handshake: never a token's instead
		}
		if id := certIdentity(r.TLS.VerifiedChains[0][0]); id != "" {
			return "cert:" + id
		}
		return "" // a certificate naming no one would share sender "cert:" with every other such
	}
	auth := r.Header.Get("Authorization")
	if len(c.tokens) == 0 || len(auth) < 7 || !strings.EqualFold(auth[:7], "bearer ") {
		return ""
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(auth[7:])))
	match := -1
	for i := range c.tokens {
		if subtle.ConstantTimeCompare(got[:], c.tokens[i].sum[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return ""
	}
	return c.tokens[match].identity
}

// certIdentity names a client certificate: its first URI SAN (a SPIFFE
// id), else its first DNS SAN, else its subject common name; "" when it
// has none. A name over maxFieldBytes is cut and followed by
// "#sha256:" and the SHA-256 of the whole of it: cutting alone made two certificates
// alike in their first bytes one sender, whose batch ids then suppressed
// each other's (TestCertIdentityNeverShared).
//
// A name Go's parsed form prints otherwise than the certificate spells
// it is none: url.URL drops an empty fragment ("spiffe://.../sa/sidecar#"
// printed as the sidecar's id), and the parsed subject keeps the last of
// two common names ("CN=intern, CN=sidecar" was CN sidecar); either
// certificate was the sidecar's sender (TestCertIdentityAsSpelled).
func certIdentity(cert *x509.Certificate) string {
	id := ""
	switch {
	case len(cert.URIs) > 0:
		if spelled := certname.URIs(cert); len(spelled) > 0 && spelled[0] == cert.URIs[0].String() {
			id = spelled[0]
		}
	case len(cert.DNSNames) > 0:
		id = cert.DNSNames[0]
	case certname.FaithfulSubject(cert.RawSubject):
		id = cert.Subject.CommonName
	}
	return certSenderName(id)
}

// certSenderName is the identity a certificate naming id is sender
// "cert:<identity>" as: id, or over maxFieldBytes, id cut and followed by
// "#sha256:" and its SHA-256. An id holding "#sha256:" takes that form
// too, whatever its length: taken as it is, an id written as another's
// cut form was that one's sender (TestCertIdentityInDigestFormIsNoOther).
// The certificate tenants file names identities whole, and is keyed by
// this too (senderBindings): keyed by the whole id, a long one bound to
// tenants matched no sender, which was then bound to none
// (TestLongCertIdentityBindingHeld).
func certSenderName(id string) string {
	if len(id) > maxFieldBytes || strings.Contains(id, digestMark) {
		sum := sha256.Sum256([]byte(id))
		return truncate(id, maxFieldBytes-len(digestMark)-2*len(sum)) + digestMark + hex.EncodeToString(sum[:])
	}
	return id
}

// digestMark joins a cut identity to the digest of the whole of it.
const digestMark = "#sha256:"
