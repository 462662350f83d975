package dataplane

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/dataplane/jwt"
	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

// credential returns the presented credential: X-API-Key, or the token of
// "Authorization: Bearer". Never the query string.
func credential(h *requestHeaders) []byte {
	if len(h.apiKey) > 0 {
		return h.apiKey
	}
	if a := h.authz; len(a) > 7 && bytes.EqualFold(a[:7], []byte("Bearer ")) {
		return bytes.TrimLeft(a[7:], " ")
	}
	return nil
}

// authenticate verifies the credential against the snapshot: the key or
// token must be valid now, not revoked, and its client not suspended.
func (s *Server) authenticate(x *exchange) audit.Decision {
	cred := credential(&x.hdr)
	if len(cred) == 0 {
		return audit.Unauthenticated
	}
	if !bytes.HasPrefix(cred, []byte(policy.KeyPrefix)) {
		if x.prep.verifier == nil {
			return audit.Unauthenticated
		}
		return s.authenticateJWT(cred, x)
	}
	x.method = audit.AuthAPIKey
	key, id, hit := s.keys.Verify(x.snap, cred, x.wall)
	x.keyHit = hit
	x.rec.SetKeyID(id)
	if key == nil {
		return audit.Unauthenticated
	}
	x.key, x.client, x.scopes = key, key.Client, key.Client.Scopes
	if x.client.Suspended {
		return audit.Suspended
	}
	return audit.Allowed
}

// authenticateJWT verifies an access token and maps it to a policy client:
// the client claim must name a client of the token's tenant (when it names
// one) and of a tenant the issuer may speak for, and the scopes granted are
// those of the token that the client may hold.
func (s *Server) authenticateJWT(token []byte, x *exchange) audit.Decision {
	x.method = audit.AuthJWT
	c, st := x.prep.verifier.Verify(token, time.Unix(0, x.wall))
	if st != jwt.OK {
		return audit.Unauthenticated
	}
	x.claims = c
	client := x.snap.Client(c.Client)
	if client == nil || (c.Tenant != "" && c.Tenant != client.Tenant.ID) ||
		!x.prep.speaksFor(c.Issuer.ID, client.Tenant) || x.snap.JTIRevoked(c.JTI) {
		return audit.Unauthenticated
	}
	x.client, x.scopes = client, x.snap.ScopeBits(c.Scopes)&client.Scopes
	if client.Suspended {
		return audit.Suspended
	}
	return audit.Allowed
}

// authorize checks scopes and, for privileged classes, the source network,
// the auth method and the token age.
func (s *Server) authorize(x *exchange) audit.Decision {
	if !x.scopes.Has(x.route.Scopes) {
		return audit.Forbidden
	}
	class := x.route.Class
	if !class.Privileged {
		return audit.Allowed
	}
	if len(class.AllowCIDRs) > 0 && !allowed(class, x.peer) {
		return audit.NetworkDenied
	}
	if class.AuthMethods&methodBit(x.method) == 0 {
		return audit.MethodDenied
	}
	if class.MaxTokenAge > 0 && x.claims != nil {
		iat := x.claims.IssuedAt
		if iat == 0 || time.Unix(0, x.wall).Sub(time.Unix(iat, 0)) > class.MaxTokenAge {
			return audit.TokenTooOld
		}
	}
	return audit.Allowed
}

func methodBit(m audit.AuthMethod) policy.AuthMethods {
	switch m {
	case audit.AuthAPIKey:
		return policy.MethodAPIKey
	case audit.AuthJWT:
		return policy.MethodJWT
	}
	return 0
}

// allowed reports whether addr is inside the class allowlist.
func allowed(class *policy.Class, addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	for _, p := range class.AllowCIDRs {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// sourceAddr is the client address: the TCP peer, unless the peer is a
// trusted proxy, in which case the right-most X-Forwarded-For (or, without
// one, Forwarded) entry that is not itself a trusted proxy. A header from
// an untrusted peer is ignored, so nobody can spoof their way into an
// allowlist. A trusted peer's request carrying both headers is refused:
// which of the two lists would be the truth?
func (s *Server) sourceAddr(ctx *fasthttp.RequestCtx, x *exchange) (netip.Addr, bool) {
	if !trusted(x.snap.TrustedProxies, x.peer) {
		return x.peer, true
	}
	if x.hdr.xff && x.hdr.fwd {
		return netip.Addr{}, false
	}
	return forwardedSource(ctx.Request.Header.RawHeaders(), x.peer, x.snap.TrustedProxies, x.hdr.fwd)
}

func trusted(proxies []netip.Prefix, a netip.Addr) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// limit takes one token from the client, tenant and tenant+class buckets,
// all or nothing, then a concurrency slot for capped classes; a
// concurrency denial refunds the tokens. The client bucket is one per
// client whatever credential it presents (its API keys and its tokens
// share clients[].limit), so holding two kinds of credential does not
// double a client's burst.
func (s *Server) limit(x *exchange) audit.Decision {
	d, class, tenant := x.prep, x.route.Class, x.client.Tenant
	x.takes[0] = limiter.Take{Key: x.client.LimitKey, Limit: &d.clientLimit[x.client.Index]}
	x.takes[1] = limiter.Take{Key: tenant.LimitKey, Limit: &d.tenantLimit[tenant.Index]}
	x.takes[2] = limiter.Take{Key: tenant.ClassKey[class.Index], Limit: &d.classLimit[class.Index]}
	now := x.mono
	which, res := s.buckets.TakeAll(x.takes[:], now)
	if which >= 0 {
		x.limited, x.which = res, which
		s.metrics.limited[which].Add(1)
		return audit.RateLimited
	}
	if class.MaxInFlight == 0 {
		return audit.Allowed
	}
	slot := tenant.ClassKey[class.Index]
	if !s.inflight.Acquire(slot, class.MaxInFlight, class.Queue, class.MaxWait) {
		for _, t := range x.takes {
			s.buckets.RefundAt(t.Key, *t.Limit, 1, now)
		}
		s.metrics.limited[3].Add(1)
		return audit.ConcurrencyLimited
	}
	x.slot, x.hasSlot = slot, true
	return audit.Allowed
}
