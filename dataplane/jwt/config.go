package jwt

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Issuer is one trusted token issuer, mapped from the policy document.
type Issuer struct {
	ID          string        // policy id of the issuer (for audit and errors)
	URL         string        // expected "iss", compared exactly
	JWKSURL     string        // fetched over HTTP(S); never a URL taken from a token
	JWKS        []byte        // inline JWKS JSON (alternative to JWKSURL)
	Audiences   []string      // accepted "aud" values; at least one is required and one must match
	Algorithms  []string      // allowed: RS256, PS256, ES256, EdDSA, HS256; "none" is always rejected
	HMACSecret  []byte        // HS256 key, at least 32 bytes; required with HS256 and only with it
	Types       []string      // accepted "typ" values, case-insensitive; empty => missing, "JWT" or "at+jwt", and no ID-token claim (nonce, at_hash, c_hash)
	TenantClaim string        // claim holding the tenant id (default "tenant")
	ClientClaim string        // claim holding the client id (default "client_id")
	ClockSkew   time.Duration // allowed skew for exp, nbf and iat
	MaxLifetime time.Duration // exp - iat (or exp - now without iat) above this => TooLong; 0 => no bound
}

// Config configures a Verifier. Zero fields take the defaults named on
// each field.
type Config struct {
	Issuers         []Issuer
	HTTPClient      *http.Client  // for JWKS fetches (a copy that follows redirects only to https); nil => a client with a 5 s timeout
	RefreshInterval time.Duration // background JWKS refresh (default 5m)
	MinRefetch      time.Duration // refetch for an unknown kid, or a kid none of whose keys verifies, at most once per this per issuer (default 30s)
	RefetchWait     time.Duration // how long a request waits on a refetch it triggered or joined (default 2s)
	MaxStale        time.Duration // keep using held keys this long after the last good fetch (default 24h)
	MaxTokenBytes   int           // longer tokens are Oversized (default 8192)
	CacheEntries    int64         // verified tokens the cache's admission counters are sized for, default DefaultCacheEntries
	CacheBytes      int64         // verified-token cache size in bytes (ristretto MaxCost; entries counted by token length plus 512 and their claims' strings and scopes, entryCost), default DefaultCacheBytes
	// FetchReport, if set, hears of every JWKS fetch that fails (err set:
	// the issuer's held keys stay in use until MaxStale, its tokens are
	// refused if it has none) and of the first good fetch after failures
	// (err nil), with the issuer's id. It runs on the fetch's goroutine.
	FetchReport func(issuer string, err error)
}

// Defaults applied by New to zero Config and Issuer fields.
const (
	DefaultRefreshInterval = 5 * time.Minute
	DefaultMinRefetch      = 30 * time.Second
	DefaultRefetchWait     = 2 * time.Second
	DefaultMaxStale        = 24 * time.Hour
	DefaultMaxTokenBytes   = 8192
	DefaultTenantClaim     = "tenant"
	DefaultClientClaim     = "client_id"
	defaultHTTPTimeout     = 5 * time.Second
	minHMACSecret          = 32 // RFC 7518 §3.2: a key at least as long as the hash output
)

// DefaultCacheEntries is the number of tokens the verified-token cache's
// admission sketch and filter are sized for, 10 counters an entry,
// allocated up front whether or not a token ever arrives: 0.4 MiB at 8192
// entries, 3.2 MiB at the 65536 before issue 18.
const DefaultCacheEntries = 1 << 13

// DefaultCacheBytes bounds what the verified-token cache holds: a copy of
// each token (up to MaxTokenBytes) and its claims, counted as the token's
// length plus 512 bytes, plus its claims' strings and 24 bytes a scope
// (entryCost). 8 MiB is 5,000 to 8,000 typical tokens (0.5 to
// 1.5 KiB) and 960 at 8 KiB; bounded by entries alone (8192), the cache
// held 64 MiB of 8 KiB tokens, twice the sidecar's whole memory goal
// (issue 18: 30 MB peak RSS). With the front table's 2 MiB (frontSlots,
// frontBytes), which keeps entries alive after ristretto evicts them, a
// verifier's tokens take at most about 10 MiB; the front serves the hot
// tokens, and a token past both is verified again.
const DefaultCacheBytes = 8 << 20

// ErrConfig is wrapped by every error New returns for an invalid Config.
var ErrConfig = errors.New("jwt: invalid config")

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	setDur(&c.RefreshInterval, DefaultRefreshInterval)
	setDur(&c.MinRefetch, DefaultMinRefetch)
	setDur(&c.RefetchWait, DefaultRefetchWait)
	setDur(&c.MaxStale, DefaultMaxStale)
	if c.MaxTokenBytes <= 0 {
		c.MaxTokenBytes = DefaultMaxTokenBytes
	}
	if c.CacheEntries <= 0 {
		c.CacheEntries = DefaultCacheEntries
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = DefaultCacheBytes
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	hc := *c.HTTPClient // the caller's client is not changed
	hc.CheckRedirect = httpsOnly(hc.CheckRedirect)
	c.HTTPClient = &hc
	return c
}

// httpsOnly wraps a client's redirect policy (nil: the default, at most
// 10 redirects) so that a JWKS fetch follows a redirect only to an https
// URL: keys read from a cleartext hop (a balancer writing its Location
// with http://) are whatever anyone on the path answered. The refusal
// names the target as logURL does, password and query redacted: a
// presigned object URL carries its signature in the query.
func httpsOnly(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return &redirectError{fmt.Sprintf("jwks redirect to %q refused: not https", logURL(req.URL))}
		}
		if next != nil {
			err := next(req, via)
			if err == nil || errors.Is(err, http.ErrUseLastResponse) {
				return err
			}
			return &redirectError{fmt.Sprintf("jwks redirect to %q refused by the client's policy", logURL(req.URL))}
		}
		if len(via) >= 10 {
			return &redirectError{"jwks redirect refused: stopped after 10 redirects"}
		}
		return nil
	}
}

// redirectError is a redirect httpsOnly refused, in words that quote no
// more of the target than logURL does: fetchFailure passes it on whole.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return e.msg }

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// prepare validates iss and returns a deep copy with defaults filled in,
// so that later changes to the caller's slices cannot reach the verifier.
func prepare(iss Issuer) (Issuer, error) {
	c := iss
	c.Audiences = slices.Clone(iss.Audiences)
	c.Algorithms = slices.Clone(iss.Algorithms)
	c.HMACSecret = slices.Clone(iss.HMACSecret)
	c.JWKS = slices.Clone(iss.JWKS)
	c.Types = make([]string, len(iss.Types))
	for i, t := range iss.Types {
		c.Types[i] = normType(t)
	}
	if c.TenantClaim == "" {
		c.TenantClaim = DefaultTenantClaim
	}
	if c.ClientClaim == "" {
		c.ClientClaim = DefaultClientClaim
	}
	if err := c.validate(); err != nil {
		return Issuer{}, fmt.Errorf("%w: issuer %q: %w", ErrConfig, iss.ID, err)
	}
	return c, nil
}

// CheckIssuer reports what New would refuse in iss alone: its fields and
// its inline JWKS, not what it shares with other issuers (id, url). A
// caller can so leave one unusable issuer out instead of losing them all.
// Errors wrap ErrConfig and name the issuer; they carry no secret.
func CheckIssuer(iss Issuer) error {
	c, err := prepare(iss)
	if err != nil {
		return err
	}
	_, err = newIssuerState(&c)
	return err
}

// validate checks the fields of one prepared issuer.
func (c *Issuer) validate() error {
	if c.ID == "" {
		return errors.New("empty id")
	}
	if c.URL == "" {
		return errors.New("empty url")
	}
	if len(c.Audiences) == 0 || slices.Contains(c.Audiences, "") {
		return errors.New("audiences: need at least one, none empty")
	}
	if c.ClockSkew < 0 || c.MaxLifetime < 0 {
		return errors.New("clock skew and max lifetime must not be negative")
	}
	mask, err := algMask(c.Algorithms)
	if err != nil {
		return err
	}
	if err := c.validateHMAC(mask); err != nil {
		return err
	}
	return c.validateKeySource(mask)
}

// algMask turns the configured algorithm names into a bit mask.
func algMask(names []string) (uint8, error) {
	if len(names) == 0 {
		return 0, errors.New("algorithms: need at least one")
	}
	var mask uint8
	for _, n := range names {
		a := parseAlg(n)
		if a == algInvalid {
			return 0, fmt.Errorf("algorithms: unsupported algorithm %q", n)
		}
		mask |= a.bit()
	}
	return mask, nil
}

func (c *Issuer) validateHMAC(mask uint8) error {
	hs := mask&algHS256.bit() != 0
	switch {
	case hs && len(c.HMACSecret) < minHMACSecret:
		return fmt.Errorf("hmac secret: HS256 needs a secret of at least %d bytes, have %d", minHMACSecret, len(c.HMACSecret))
	case !hs && len(c.HMACSecret) > 0:
		return errors.New("hmac secret: set but HS256 is not in algorithms")
	}
	return nil
}

// validateKeySource checks that asymmetric algorithms have exactly one
// key source and that a JWKS URL is an absolute http(s) URL.
func (c *Issuer) validateKeySource(mask uint8) error {
	asym := mask&^algHS256.bit() != 0
	switch {
	case c.JWKSURL != "" && len(c.JWKS) > 0:
		return errors.New("jwks: set either jwks url or inline jwks, not both")
	case asym && c.JWKSURL == "" && len(c.JWKS) == 0:
		return errors.New("jwks: asymmetric algorithms need a jwks url or inline jwks")
	case c.JWKSURL == "":
		return nil
	}
	u, err := url.Parse(c.JWKSURL)
	if err != nil {
		return errors.New("jwks url: cannot parse it") // url's error would quote it, password included
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("jwks url %q: need an absolute http or https url", logURL(u))
	}
	return nil
}

// normType lower-cases a typ value and drops an "application/" prefix,
// which RFC 7515 §4.1.9 says recipients must treat as implied.
func normType(t string) string {
	t = strings.ToLower(t)
	return strings.TrimPrefix(t, "application/")
}
