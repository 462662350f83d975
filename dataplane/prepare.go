package dataplane

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"math/big"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/dataplane/authn"
	"github.com/portcullis/portcullis/dataplane/jwt"
	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
)

// prepared holds what the data plane builds for each policy snapshot before
// it serves it: limiter limits, RateLimit-Policy header values, metric
// slots per class, the issuer rules and the token verifier for the
// snapshot's issuers (with its first JWKS fetch), and the snapshot itself.
// It is built by prepare, the step the policy writer runs before the Store
// installs the snapshot, never on a request, and is immutable afterwards.
type prepared struct {
	snap        *policy.Snapshot
	clientLimit []limiter.Limit // by Client.Index
	tenantLimit []limiter.Limit // by Tenant.Index
	classLimit  []limiter.Limit // by Class.Index
	clientHdr   []string        // RateLimit-Policy value, by Client.Index
	tenantHdr   []string
	classHdr    []string
	classSlot   []int    // metrics slot by Class.Index
	classRetry  []string // Retry-After of a full concurrency queue, by Class.Index (limit.go)
	minBody     int64    // smallest class body limit
	publicMax   int64    // requests of public routes in flight at once (limit.go)
	since       int64    // limiter clock at which the limits and caps came into force (Limit.Since)
	maxBody     int64    // largest class body limit
	verifier    *jwt.Verifier
	issuers     []policy.IssuerSpec
	secrets     [32]byte               // what the issuers' hmac_secret references held (secretSum)
	issuerRules map[string]*issuerRule // by issuer id
	unusable    []unusableIssuer       // issuers left out of verifier, with why (newVerifier), for /readyz
	stopJWKS    context.CancelFunc
	global      *global      // global limits (global.go); nil in local mode
	keyFront    *authn.Front // API key front table of snap, built here: its size is the key count (issue 18)
	cookieDeny  [][]byte     // the 400's body head naming each of snap.RefuseCookies (refusecookie.go, deny)

	tenantCell []*tenantCell // per-tenant metric counters by Tenant.Index
	// tenantFlight is each tenant's count of requests in flight, in
	// every class, by Tenant.Index (limit.go).
	tenantFlight []*atomic.Int64
}

// issuerRule is what the data plane enforces of an issuer beyond the
// token's signature and claims.
type issuerRule struct {
	tenants      []bool // by Tenant.Index: the tenants its tokens may speak for
	forwardToken bool   // forward the verified token to the upstream
}

// issuerRules builds the rules of snap's issuers.
func issuerRules(snap *policy.Snapshot) map[string]*issuerRule {
	rules := make(map[string]*issuerRule, len(snap.Issuers))
	for _, is := range snap.Issuers {
		r := &issuerRule{tenants: make([]bool, len(snap.TenantList)), forwardToken: is.ForwardToken}
		for _, id := range is.Tenants {
			if t := snap.Tenants[id]; t != nil {
				r.tenants[t.Index] = true
			}
		}
		rules[is.ID] = r
	}
	return rules
}

// speaksFor reports whether a token of the issuer with id may act for
// tenant t; an issuer the policy does not name speaks for nobody.
func (p *prepared) speaksFor(id string, t *policy.Tenant) bool {
	r := p.issuerRules[id]
	return r != nil && r.tenants[t.Index]
}

// firstFetchWait bounds how long a policy swap waits for the first JWKS
// fetch of an issuer it adds. Requests never wait: they are served by the
// snapshot in force meanwhile, and after the swap an issuer whose keys are
// still missing answers 401 until the background fetch succeeds (issue 13).
const firstFetchWait = 2 * time.Second

// snapshot returns the policy snapshot p was prepared for, or nil for a
// nil p (no policy yet).
func (p *prepared) snapshot() *policy.Snapshot {
	if p == nil {
		return nil
	}
	return p.snap
}

// prepare is the writer's step before the swap, registered with
// policy.Store.AddPreparer by New: it builds the tables for snap and makes
// them the ones requests load (one atomic load gives both the tables and
// their snapshot, so the two always match). The Store runs it on the
// writer's goroutine before it installs snap, one Swap at a time, so a
// newer snapshot is never replaced by an older one. A verifier the new
// tables do not keep is closed; a request still holding it verifies
// without fetching.
func (s *Server) prepare(snap *policy.Snapshot) {
	s.share.swapMu.Lock()
	defer s.share.swapMu.Unlock()
	old := s.prepared.Load()
	p := s.prepareTables(snap, old)
	if s.cfg.GlobalLimits {
		s.applySharesLocked(p, old.globalState())
	}
	s.prepared.Store(p)
	if p.publicMax >= int64(s.cfg.MaxUpstreamConn) && (old == nil || old.publicMax != p.publicMax) {
		s.logged(s.log.Warn().Int64("public_max_in_flight", p.publicMax).Int("upstream_max_conns", s.cfg.MaxUpstreamConn),
			"public_routes.max_in_flight is not below --upstream-max-conns: requests without a credential can hold every upstream connection")
	}
	if old != nil && old.verifier != p.verifier {
		old.close()
	}
}

// prepareTables builds the tables of snap; old, the tables in force (nil
// before the first policy), lends its verifier when the issuers are the
// same.
func (s *Server) prepareTables(snap *policy.Snapshot, old *prepared) *prepared {
	p := &prepared{snap: snap, minBody: -1, keyFront: authn.NewFront(snap), publicMax: s.publicMax(snap)}
	at := limiter.Now() // the limits' coming into force (Limit.Since)
	p.since = at
	for _, c := range snap.ClientList {
		p.clientLimit = append(p.clientLimit, toLimit(c.Limit, at))
		p.clientHdr = append(p.clientHdr, policyHeader("client", c.Limit))
	}
	for _, t := range snap.TenantList {
		p.tenantLimit = append(p.tenantLimit, toLimit(t.Limit, at))
		p.tenantHdr = append(p.tenantHdr, policyHeader("tenant", t.Limit))
	}
	for _, c := range snap.Classes {
		p.classLimit = append(p.classLimit, toLimit(c.Limit, at))
		p.classHdr = append(p.classHdr, policyHeader("class", c.Limit))
		p.classSlot = append(p.classSlot, s.metrics.classSlot(c.Name))
		p.classRetry = append(p.classRetry, queueRetryAfter(c))
		if p.minBody < 0 || c.MaxBody < p.minBody {
			p.minBody = c.MaxBody
		}
		p.maxBody = max(p.maxBody, c.MaxBody)
	}
	p.issuerRules = issuerRules(snap)
	p.cookieDeny = cookieDenials(snap)
	p.tenantCell = s.metrics.tenants.cells(snap)
	p.tenantFlight = s.tenantFlights(snap, p.tenantCell)
	s.prepareVerifier(p, old)
	return p
}

// prepareVerifier reuses the old verifier when the issuers did not change,
// so a policy push does not throw away fetched JWKS and cached tokens.
// A new verifier takes over the keys the old one holds for unchanged JWKS
// URLs, and the swap waits up to firstFetchWait for the others.
func (s *Server) prepareVerifier(p, old *prepared) {
	p.issuers = p.snap.Issuers
	p.secrets = secretSum(p.issuers)
	if old != nil && reflect.DeepEqual(old.issuers, p.issuers) && old.secrets == p.secrets {
		p.verifier, p.stopJWKS, p.unusable = old.verifier, old.stopJWKS, old.unusable
		return
	}
	if len(p.issuers) == 0 {
		return
	}
	v, unusable, err := newVerifier(p.issuers, s.reportFetch)
	p.unusable = unusable
	for _, u := range unusable {
		s.logged(s.log.Error().Str("issuer", u.id).Err(u.err).Int64("revision", p.snap.Revision), "token issuer unusable: its tokens get 401, the other issuers' are verified")
	}
	if err != nil {
		s.logged(s.log.Error().Err(err).Int64("revision", p.snap.Revision), "token issuers unusable: JWTs are refused")
		return
	}
	if v == nil {
		return // every issuer unusable
	}
	if old != nil {
		v.Adopt(old.verifier)
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.Launch(ctx)
	wait, stop := context.WithTimeout(ctx, firstFetchWait)
	_ = v.WaitFirst(wait)
	stop()
	if pending := v.Pending(); len(pending) > 0 {
		s.logged(s.log.Warn().Strs("issuers", pending).Int64("revision", p.snap.Revision), "token issuer keys not fetched yet: their tokens get 401 until a fetch succeeds")
	}
	p.verifier, p.stopJWKS = v, cancel
}

// globalState returns p's global limit state, or nil.
func (p *prepared) globalState() *global {
	if p == nil {
		return nil
	}
	return p.global
}

// close stops the background JWKS fetches of p's verifier and closes it.
func (p *prepared) close() {
	if p.stopJWKS != nil {
		p.stopJWKS()
		p.verifier.Close()
	}
}

// reportFetch logs a failed JWKS fetch, and the good one after failures,
// so a provider outage or a withdrawn key set is seen where it starts
// rather than as a run of 401s. The error names the issuer and its
// jwks_url with any password redacted; it carries no key.
func (s *Server) reportFetch(issuer string, err error) {
	if err != nil {
		s.logged(s.log.Error().Str("issuer", issuer).Err(err), "token issuer keys not fetched: the keys it holds stay in use, and without keys its tokens get 401")
		return
	}
	s.logged(s.log.Info().Str("issuer", issuer), "token issuer keys fetched again")
}

// unusableIssuer is an issuer newVerifier left out, and why.
type unusableIssuer struct {
	id  string
	err error
}

// newVerifier maps the policy's issuers onto a JWT verifier that reports
// its JWKS fetches to report. An issuer whose secret cannot be read or
// that jwt.CheckIssuer refuses (a secret under 32 bytes, an inline JWKS
// without a usable key) is left out and returned in unusable: its tokens
// get 401 while the other issuers' are verified. Before, one such issuer
// failed the whole verifier and every token got 401.
func newVerifier(specs []policy.IssuerSpec, report func(string, error)) (_ *jwt.Verifier, unusable []unusableIssuer, _ error) {
	cfg := jwt.Config{FetchReport: report}
	urls := make(map[string]string, len(specs)) // issuer url -> the id of the first issuer of it
	for _, is := range specs {
		if err := firstOfURL(urls, is); err != nil {
			unusable = append(unusable, unusableIssuer{is.ID, err})
			continue
		}
		iss := jwt.Issuer{
			ID: is.ID, URL: is.Issuer, JWKSURL: is.JWKSURL, Audiences: is.Audiences,
			Algorithms: is.Algorithms, Types: is.Types, TenantClaim: is.TenantClaim, ClientClaim: is.ClientClaim,
		}
		if is.JWKS != "" {
			iss.JWKS = []byte(is.JWKS)
		}
		iss.ClockSkew, _ = time.ParseDuration(orZero(is.ClockSkew))
		iss.MaxLifetime, _ = time.ParseDuration(orZero(is.MaxLifetime))
		if is.HMACSecret != "" {
			secret, err := resolveSecret(is.HMACSecret)
			if err != nil {
				unusable = append(unusable, unusableIssuer{is.ID, err})
				continue
			}
			iss.HMACSecret = secret
		}
		if err := jwt.CheckIssuer(iss); err != nil {
			unusable = append(unusable, unusableIssuer{is.ID, err})
			continue
		}
		cfg.Issuers = append(cfg.Issuers, iss)
	}
	if len(cfg.Issuers) == 0 {
		return nil, unusable, nil
	}
	v, err := jwt.New(cfg)
	return v, unusable, err
}

// firstOfURL records is as the issuer of its url, or returns why it is
// left out: an issuer before it has that url. A token names its issuer by
// url alone, and jwt.New refuses two issuers of one url, which failed the
// whole verifier: every token of every issuer got 401 while /readyz said
// the issuers were fine (TestDuplicateIssuerURLKeepsTheFirst). Validation
// refuses such a policy (policy: TestDuplicateIssuerURLRefused); this
// keeps a snapshot compiled without it from doing so.
func firstOfURL(urls map[string]string, is policy.IssuerSpec) error {
	if first, dup := urls[is.Issuer]; dup {
		return fmt.Errorf("its issuer url is issuer %q's already: a token names its issuer by url, so tokens of that url are verified as %q's", first, first)
	}
	urls[is.Issuer] = is.ID
	return nil
}

func orZero(s string) string {
	if s == "" {
		return "0s"
	}
	return s
}

// secretSum is the SHA-256 of what the issuers' hmac_secret references
// hold now (a reference that cannot be read counts as its error). The
// policy names a secret by reference only, so the same issuers with a
// rotated secret file must not keep the verifier of the old secret: an
// outside review found a leaked secret still minting tokens after it was
// rotated, and the new one refused, until a restart.
func secretSum(issuers []policy.IssuerSpec) [32]byte {
	h := sha256.New()
	for _, is := range issuers {
		if is.HMACSecret == "" {
			continue
		}
		secret, err := resolveSecret(is.HMACSecret)
		if err != nil {
			secret = []byte("unreadable: " + err.Error())
		}
		fmt.Fprintf(h, "%s\x00%d\x00", is.ID, len(secret))
		h.Write(secret)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// secretCheck is how often the sidecar reads the issuers' hmac_secret
// references again to find a rotated secret (watchSecrets).
const secretCheck = 10 * time.Second

// watchSecrets prepares the policy in force again when what its issuers'
// hmac_secret references hold changed (a secret file rotated, as a
// Kubernetes Secret volume is updated), every secretCheck until ctx ends.
func (s *Server) watchSecrets(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p := s.prepared.Load()
		if p == nil || !hasSecretRef(p.issuers) || secretSum(p.issuers) == p.secrets {
			continue
		}
		s.logged(s.log.Info().Int64("revision", p.snap.Revision), "an issuer's hmac secret changed: its tokens are verified with the new one")
		s.store.Reprepare()
	}
}

func hasSecretRef(issuers []policy.IssuerSpec) bool {
	for _, is := range issuers {
		if is.HMACSecret != "" {
			return true
		}
	}
	return false
}

// resolveSecret reads a secret reference "env:NAME" or "file:PATH".
func resolveSecret(ref string) ([]byte, error) {
	switch {
	case strings.HasPrefix(ref, "env:"):
		v := os.Getenv(ref[4:])
		if v == "" {
			return nil, fmt.Errorf("hmac secret variable %q is empty or unset", ref[4:])
		}
		return []byte(v), nil
	case strings.HasPrefix(ref, "file:"):
		// A regular file only: a FIFO swapped in at its name held the
		// secret check, and the policy push preparing it, in open(2).
		b, err := durable.ReadRegularMax(ref[5:], durable.MaxSecretBytes)
		if err != nil {
			return nil, fmt.Errorf("cannot read hmac secret: %w", err)
		}
		return []byte(strings.TrimSpace(string(b))), nil
	}
	return nil, fmt.Errorf("hmac secret reference must be env:NAME or file:PATH")
}

// toLimit returns the limiter Limit of r, in force since at.
func toLimit(r policy.Rate, at int64) limiter.Limit {
	if r.IsZero() {
		return limiter.Limit{}
	}
	return limiter.NewLimit(r.Events, r.Per, r.Burst).Since(at)
}

// policyHeader renders a RateLimit-Policy item (draft-ietf-httpapi-ratelimit-headers):
// quota q is the burst, window w the seconds the rate takes to refill it.
func policyHeader(name string, r policy.Rate) string {
	if r.IsZero() {
		return ""
	}
	w := windowSeconds(r)
	return `"` + name + `";q=` + strconv.FormatInt(r.Burst, 10) + ";w=" + strconv.FormatInt(max(w, 1), 10)
}

// windowSeconds returns ceil(Per*Burst / Events) in whole seconds: how long
// the rate takes to refill the burst, saturating at MaxInt64. Per*Burst
// overflows int64 for slow rates with big bursts (1/h burst 1e9 is 3.6e21
// ns, issue 13), so it is computed in big integers: this runs once per
// policy swap, never on a request.
func windowSeconds(r policy.Rate) int64 {
	if r.Events <= 0 || r.Per <= 0 || r.Burst <= 0 {
		return 0
	}
	n := new(big.Int).Mul(big.NewInt(int64(r.Per)), big.NewInt(r.Burst))
	d := new(big.Int).Mul(big.NewInt(r.Events), big.NewInt(int64(time.Second)))
	n.Add(n, d).Sub(n, big.NewInt(1)).Quo(n, d)
	if !n.IsInt64() {
		return math.MaxInt64
	}
	return n.Int64()
}
