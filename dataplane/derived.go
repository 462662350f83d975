package dataplane

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/dataplane/jwt"
	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
)

// derived holds what the data plane precomputes per policy snapshot: limiter
// limits, RateLimit-Policy header values, metric slots per class and the
// token verifier for the snapshot's issuers, with the snapshot itself. It is
// built by prepare on the policy writer's goroutine before the Store
// installs the snapshot, never on a request, and is immutable afterwards.
type derived struct {
	snap        *policy.Snapshot
	clientLimit []limiter.Limit // by Client.Index
	tenantLimit []limiter.Limit // by Tenant.Index
	classLimit  []limiter.Limit // by Class.Index
	clientHdr   []string        // RateLimit-Policy value, by Client.Index
	tenantHdr   []string
	classHdr    []string
	classSlot   []int // metrics slot by Class.Index
	minBody     int64 // smallest class body limit
	maxBody     int64 // largest class body limit
	verifier    *jwt.Verifier
	issuers     []policy.IssuerSpec
	issuerRules map[string]*issuerRule // by issuer id
	stopJWKS    context.CancelFunc
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
func (d *derived) speaksFor(id string, t *policy.Tenant) bool {
	r := d.issuerRules[id]
	return r != nil && r.tenants[t.Index]
}

// firstFetchWait bounds how long a policy swap waits for the first JWKS
// fetch of an issuer it adds. Requests never wait: they are served by the
// snapshot in force meanwhile, and after the swap an issuer whose keys are
// still missing answers 401 until the background fetch succeeds (issue 13).
const firstFetchWait = 2 * time.Second

// snapshot returns the policy snapshot d was built for, or nil for a nil d
// (no policy yet).
func (d *derived) snapshot() *policy.Snapshot {
	if d == nil {
		return nil
	}
	return d.snap
}

// prepare builds the derived tables for snap and makes them the ones
// requests load (one atomic load gives both the tables and their snapshot,
// so the two always match). The policy.Store runs it before it installs
// snap, one Swap at a time, so a newer snapshot is never replaced by an
// older one. A verifier the new tables do not keep is closed; a request
// still holding it verifies without fetching.
func (s *Server) prepare(snap *policy.Snapshot) {
	old := s.derived.Load()
	d := s.derive(snap, old)
	s.derived.Store(d)
	if old != nil && old.verifier != d.verifier {
		old.close()
	}
}

func (s *Server) derive(snap *policy.Snapshot, old *derived) *derived {
	d := &derived{snap: snap, minBody: -1}
	for _, c := range snap.ClientList {
		d.clientLimit = append(d.clientLimit, toLimit(c.Limit))
		d.clientHdr = append(d.clientHdr, policyHeader("client", c.Limit))
	}
	for _, t := range snap.TenantList {
		d.tenantLimit = append(d.tenantLimit, toLimit(t.Limit))
		d.tenantHdr = append(d.tenantHdr, policyHeader("tenant", t.Limit))
	}
	for _, c := range snap.Classes {
		d.classLimit = append(d.classLimit, toLimit(c.Limit))
		d.classHdr = append(d.classHdr, policyHeader("class", c.Limit))
		d.classSlot = append(d.classSlot, s.metrics.classSlot(c.Name))
		if d.minBody < 0 || c.MaxBody < d.minBody {
			d.minBody = c.MaxBody
		}
		d.maxBody = max(d.maxBody, c.MaxBody)
	}
	d.issuerRules = issuerRules(snap)
	s.deriveVerifier(d, old)
	return d
}

// deriveVerifier reuses the old verifier when the issuers did not change,
// so a policy push does not throw away fetched JWKS and cached tokens.
// A new verifier takes over the keys the old one holds for unchanged JWKS
// URLs, and the swap waits up to firstFetchWait for the others.
func (s *Server) deriveVerifier(d, old *derived) {
	d.issuers = d.snap.Issuers
	if old != nil && reflect.DeepEqual(old.issuers, d.issuers) {
		d.verifier, d.stopJWKS = old.verifier, old.stopJWKS
		return
	}
	if len(d.issuers) == 0 {
		return
	}
	v, err := newVerifier(d.issuers)
	if err != nil {
		s.log.Error().Err(err).Int64("revision", d.snap.Revision).Msg("token issuers unusable: JWTs are refused")
		return
	}
	if old != nil {
		v.Adopt(old.verifier)
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.Launch(ctx)
	wait, stop := context.WithTimeout(ctx, firstFetchWait)
	_ = v.WaitFirst(wait)
	stop()
	if p := v.Pending(); len(p) > 0 {
		s.log.Warn().Strs("issuers", p).Int64("revision", d.snap.Revision).Msg("token issuer keys not fetched yet: their tokens get 401 until a fetch succeeds")
	}
	d.verifier, d.stopJWKS = v, cancel
}

func (d *derived) close() {
	if d.stopJWKS != nil {
		d.stopJWKS()
		d.verifier.Close()
	}
}

// newVerifier maps the policy's issuers onto a JWT verifier.
func newVerifier(specs []policy.IssuerSpec) (*jwt.Verifier, error) {
	var cfg jwt.Config
	for _, is := range specs {
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
				return nil, fmt.Errorf("issuer %q: %w", is.ID, err)
			}
			iss.HMACSecret = secret
		}
		cfg.Issuers = append(cfg.Issuers, iss)
	}
	return jwt.New(cfg)
}

func orZero(s string) string {
	if s == "" {
		return "0s"
	}
	return s
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
		b, err := os.ReadFile(ref[5:])
		if err != nil {
			return nil, fmt.Errorf("cannot read hmac secret: %w", err)
		}
		return []byte(strings.TrimSpace(string(b))), nil
	}
	return nil, fmt.Errorf("hmac secret reference must be env:NAME or file:PATH")
}

func toLimit(r policy.Rate) limiter.Limit {
	if r.IsZero() {
		return limiter.Limit{}
	}
	return limiter.NewLimit(r.Events, r.Per, r.Burst)
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
