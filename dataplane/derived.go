package dataplane

import (
	"context"
	"fmt"
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
// token verifier for the snapshot's issuers. It is built once per snapshot,
// on the first request that sees it, and is immutable afterwards.
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

// current returns the derived tables for snap, building them if snap is new.
// The check is kept apart from the build so that it inlines.
func (s *Server) current(snap *policy.Snapshot) *derived {
	if d := s.derived.Load(); d != nil && d.snap == snap {
		return d
	}
	return s.rebuild(snap)
}

// rebuild is current for a snapshot the tables were not built for.
func (s *Server) rebuild(snap *policy.Snapshot) *derived {
	s.derivedMu.Lock()
	defer s.derivedMu.Unlock()
	old := s.derived.Load()
	if old != nil && old.snap == snap {
		return old
	}
	d := s.derive(snap, old)
	s.derived.Store(d)
	return d
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
	s.metrics.policyRevision.Store(snap.Revision)
	s.metrics.policyLoaded.Store(time.Now().Unix())
	return d
}

// deriveVerifier reuses the old verifier when the issuers did not change,
// so a policy push does not throw away fetched JWKS and cached tokens.
func (s *Server) deriveVerifier(d, old *derived) {
	d.issuers = d.snap.Issuers
	if old != nil && reflect.DeepEqual(old.issuers, d.issuers) {
		d.verifier, d.stopJWKS = old.verifier, old.stopJWKS
		return
	}
	if old != nil {
		old.close()
	}
	if len(d.issuers) == 0 {
		return
	}
	v, err := newVerifier(d.issuers)
	if err != nil {
		s.log.Error().Err(err).Int64("revision", d.snap.Revision).Msg("token issuers unusable: JWTs are refused")
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.Start(ctx)
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
	w := (int64(r.Per)*r.Burst/r.Events + int64(time.Second) - 1) / int64(time.Second)
	return `"` + name + `";q=` + strconv.FormatInt(r.Burst, 10) + ";w=" + strconv.FormatInt(max(w, 1), 10)
}
