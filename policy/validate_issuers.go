// Validation of JWT issuers: unique urls, tenants, claims and clock skew, and the URL and secret
// reference rules they share with other settings.

package policy

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

func (v *validator) issuers(is []IssuerSpec, tenants map[string]int) {
	seen, urls := map[string]int{}, map[string]int{}
	for i := range is {
		v.unique(seen, "issuer", is[i].ID, v.lines.at("issuers", i, "", -1))
		v.issuerURL(urls, is[i], i)
		for _, p := range is[i].check(tenants) {
			v.addf(v.lines.at("issuers", i, p.field, p.elem), "issuer %q: %v", is[i].ID, p.err)
		}
	}
}

// issuerURL refuses issuer i when an issuer before it has its issuer url:
// a token names its issuer by that url alone ("iss"), so two issuers of
// one url cannot be told apart, and the data plane's verifier, which
// looks issuers up by it, was refused whole: every token of every issuer
// got 401 while /readyz said the issuers were fine
// (TestDuplicateIssuerURLRefused).
func (v *validator) issuerURL(urls map[string]int, is IssuerSpec, i int) {
	line := v.lines.at("issuers", i, "issuer", -1)
	if is.Issuer == "" {
		return // refused as no https url
	}
	if first, dup := urls[is.Issuer]; dup {
		v.addf(line, "issuer %q: issuer %q is already the url of the issuer at line %d: a token names its issuer by url, so one url is one issuer", is.ID, redactUserinfo(is.Issuer), first)
		return
	}
	urls[is.Issuer] = line
}

// issuerProblem is one problem of an issuer and the field (and list
// element, or -1) it is at.
type issuerProblem struct {
	field string
	elem  int
	err   error
}

// check validates one issuer against the document's tenants; it returns
// every problem.
func (s *IssuerSpec) check(tenants map[string]int) []issuerProblem {
	var ps []issuerProblem
	add := func(field string, elem int, format string, args ...any) {
		ps = append(ps, issuerProblem{field, elem, fmt.Errorf(format, args...)})
	}
	if !idPattern.MatchString(s.ID) {
		add("id", -1, "issuer id %q must match %s", s.ID, idPattern)
	}
	if !secureURL(s.Issuer) {
		add("issuer", -1, "issuer %q must be an https URL (http only on loopback)", redactUserinfo(s.Issuer))
	}
	if (s.JWKSURL != "" && s.JWKS != "") || (s.JWKSURL == "" && s.JWKS == "" && s.HMACSecret == "") {
		add("", -1, "set exactly one of jwks_url and jwks")
	}
	if s.JWKSURL != "" && !secureURL(s.JWKSURL) {
		add("jwks_url", -1, "jwks_url %q must be an https URL (http only on loopback)", redactUserinfo(s.JWKSURL))
	}
	if len(s.Tenants) == 0 {
		add("", -1, "tenants must list the tenants whose clients its tokens may speak for")
	}
	for j, t := range s.Tenants {
		if _, ok := tenants[t]; !ok {
			add("tenants", j, "unknown tenant %q", t)
		}
	}
	if len(s.Audiences) == 0 {
		add("", -1, "audiences must list at least one audience")
	}
	if len(s.Algorithms) == 0 {
		add("", -1, "algorithms must list at least one of RS256, PS256, ES256, EdDSA, HS256")
	}
	hs := false
	for j, a := range s.Algorithms {
		if !jwtAlgorithms[a] {
			add("algorithms", j, "algorithm %q is not allowed (RS256, PS256, ES256, EdDSA, HS256; never none)", a)
		}
		hs = hs || a == "HS256"
	}
	switch {
	case hs && s.HMACSecret == "":
		add("algorithms", -1, "HS256 needs hmac_secret, and hmac_secret needs HS256")
	case !hs && s.HMACSecret != "":
		add("hmac_secret", -1, "HS256 needs hmac_secret, and hmac_secret needs HS256")
	}
	if s.HMACSecret != "" && !secretRef(s.HMACSecret) {
		add("hmac_secret", -1, "hmac_secret must be a reference env:NAME or file:PATH, never the secret itself")
	}
	for _, f := range []struct{ name, value string }{{"clock_skew", s.ClockSkew}, {"max_lifetime", s.MaxLifetime}} {
		if _, err := parseDuration(f.value); err != nil {
			add(f.name, -1, "%s: %w", f.name, err)
		}
	}
	if life, err := parseDuration(s.MaxLifetime); err == nil && life == 0 && s.MaxLifetime != "" {
		// The data plane reads 0 as no bound (jwt.Config.MaxLifetime):
		// the tightest bound written would have been none at all.
		add("max_lifetime", -1, "max_lifetime %s admits no token: leave it out for no bound", s.MaxLifetime)
	}
	if skew, err := parseDuration(s.ClockSkew); err == nil && skew > MaxClockSkew {
		add("clock_skew", -1, "clock_skew %s is more than %s: tokens that long expired, or not valid yet, would be accepted", skew, MaxClockSkew)
	}
	return ps
}

// The claims an issuer's tokens name their tenant and client by when its
// tenant_claim and client_claim are unset (the data plane's defaults,
// jwt.DefaultTenantClaim and jwt.DefaultClientClaim).
const (
	defaultTenantClaim = "tenant"
	defaultClientClaim = "client_id"
)

// reservedClaims are the claims a tenant_claim or client_claim must not
// name: the registered claims (RFC 7519 section 4.1) the data plane reads
// as what they are, a number (exp, nbf, iat), the audience, the issuer or
// the token's own id, and the scopes. sub is not among them: it is the
// client's id in many providers' client-credentials tokens.
var reservedClaims = [...]string{"iss", "aud", "exp", "nbf", "iat", "jti", "scope", "scp"}

// claimProblems finds an empty audience, a tenant_claim or client_claim
// naming a reserved claim, and the two naming one claim: rules of
// CheckPush, which a push refuses and Load takes. Names are compared under Unicode
// case folding, as the data plane does: it refuses a token holding two
// names equal so ("EXP" beside the exp every token has), so such a claim
// could never be read. Before, the policy validated and every token of
// the issuer got 401 (TestIssuerClaimSettingsRefused).
func (s *IssuerSpec) claimProblems() []issuerProblem {
	var ps []issuerProblem
	for j, a := range s.Audiences {
		if a == "" {
			ps = append(ps, issuerProblem{"audiences", j, errors.New("audiences: an empty audience matches no token's aud, and the data plane leaves such an issuer out")})
		}
	}
	claims := []struct{ field, name, def string }{
		{"tenant_claim", s.TenantClaim, defaultTenantClaim},
		{"client_claim", s.ClientClaim, defaultClientClaim},
	}
	for _, c := range claims {
		for _, r := range reservedClaims {
			if strings.EqualFold(c.name, r) {
				ps = append(ps, issuerProblem{c.field, -1, fmt.Errorf("%s %q is the registered claim %q: name the claim holding the %s id", c.field, c.name, r, strings.TrimSuffix(c.field, "_claim"))})
			}
		}
	}
	t, c := claims[0], claims[1]
	tn, cn := cmp.Or(t.name, t.def), cmp.Or(c.name, c.def)
	if !strings.EqualFold(tn, cn) {
		return ps
	}
	deflt := func(name string) string {
		if name == "" {
			return " (the default)"
		}
		return ""
	}
	if c.name == "" {
		t, c, tn, cn = c, t, cn, tn // report it at the field that is set
	}
	return append(ps, issuerProblem{c.field, -1, fmt.Errorf("%s %q is the %s %q%s: one claim cannot name both the tenant and the client", c.field, cn, t.field, tn, deflt(t.name))})
}

// MaxClockSkew bounds an issuer's clock_skew: the leeway for exp, nbf and
// iat is meant for clocks a little apart (RFC 7519 §4.1.4: "usually no
// more than a few minutes"), and a larger one (5h typed for 5m) accepts
// expired tokens.
const MaxClockSkew = 5 * time.Minute

// SecureURL reports whether s is an https URL, or http on loopback: what
// a URL of the policy must be, and a ticket sink's url_file must hold.
func SecureURL(s string) bool { return secureURL(s) }

// secureURL reports whether s is an https URL, or http on loopback.
func secureURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Host != "" && (u.Scheme == "https" || loopbackHTTP(u))
}

// secretRef reports whether s is a secret reference env:NAME or file:PATH
// with a non-empty name or path.
func secretRef(s string) bool {
	for _, p := range []string{"env:", "file:"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest != ""
		}
	}
	return false
}

// redactUserinfo returns s, a URL or a host, with the password of a
// user:password@ before its host replaced by "xxxxx", as url.URL.Redacted
// does, and its query too (a provider or collector taking a token there:
// ?access_token=...; the fragment left out), also for a value that does
// not parse: a refused value goes into the error, and so the log line
// and, for a policy from etcd, /readyz.
func redactUserinfo(s string) string {
	pre, rest := "", s
	if i := strings.Index(s, "://"); i >= 0 {
		pre, rest = s[:i+3], s[i+3:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		tail := ""
		if rest[i] == '?' {
			tail = "?xxxxx"
		}
		rest = rest[:i] + tail
	}
	host := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		host = rest[:i]
	}
	at := strings.LastIndexByte(host, '@')
	if at < 0 {
		return pre + rest
	}
	user, _, ok := strings.Cut(host[:at], ":")
	if !ok {
		return pre + rest
	}
	return pre + user + ":xxxxx" + rest[at:]
}

func loopbackHTTP(u *url.URL) bool {
	if u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	a, err := netip.ParseAddr(h)
	return h == "localhost" || (err == nil && a.IsLoopback())
}

// jwkPrivateMembers are the JWK members that hold private or secret key
// material (RFC 7518 §6.2.2, §6.3.2 and §6.4.1, RFC 8037 §2): the data
// plane skips a key carrying one (dataplane/jwt's privateMembers).
var jwkPrivateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// jwksProblems finds an inline jwks holding private key material: a key
// pair pasted whole where its public half belongs. A policy in etcd
// reaches every sidecar and its history, and whoever reads it could sign
// the issuer's tokens; the data plane skips such a key (so a set of it
// alone leaves the issuer without keys). A rule of CheckPush.
func (s *IssuerSpec) jwksProblems() []issuerProblem {
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if s.JWKS == "" || json.Unmarshal([]byte(s.JWKS), &set) != nil {
		return nil // no inline set, or not one the data plane reads: not this rule's
	}
	for i, k := range set.Keys {
		for name := range k {
			for _, p := range jwkPrivateMembers {
				if strings.EqualFold(name, p) {
					return []issuerProblem{{"jwks", -1, fmt.Errorf("jwks: key %d holds %q, private key material: whoever reads the policy could sign its tokens; give the public key alone, and replace the key pair", i, name)}}
				}
			}
		}
	}
	return nil
}
