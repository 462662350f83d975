package dataplane

import (
	"bytes"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/dataplane/jwt"
	"github.com/portcullis/portcullis/policy"
)

// credential returns the presented credential: X-API-Key, or the token of
// "Authorization: Bearer". Never the query string. It is inlined, the
// bearer token behind a call (issue 18: BenchmarkDecide).
func credential(h *requestHeaders) []byte {
	if len(h.apiKey) > 0 {
		return h.apiKey
	}
	return bearerToken(h.authz)
}

// bearerToken returns the token of an Authorization value a, or nil for any
// other scheme.
func bearerToken(a []byte) []byte {
	if len(a) > 7 && bytes.EqualFold(a[:7], []byte("Bearer ")) {
		return bytes.TrimLeft(a[7:], " ")
	}
	return nil
}

// authenticate, step 4 of the request path, verifies the credential
// against the snapshot: the key or token must be valid now, not revoked,
// and its client not suspended. An API key whose secret matched a revoked
// record is KeyRevoked, audited as the proof that this sidecar enforced
// the revocation; any other failure is Unauthenticated, and the client
// gets the same answer for both. So is a client certificate that a CRL
// loaded since its handshake revokes: CertRevoked, answered as
// Unauthenticated.
func (s *Server) authenticate(x *exchange) audit.Decision {
	cred := credential(&x.hdr)
	if len(cred) == 0 {
		if len(x.certIDs) > 0 {
			return s.authenticateMTLS(x)
		}
		if x.certDenied != audit.Allowed { // a reload revoked the connection's certificate (tls.go, recheck)
			x.method = audit.AuthMTLS
			return x.certDenied
		}
		return audit.Unauthenticated
	}
	// Compared as a string with the constant: inline, where
	// bytes.HasPrefix calls memequal (issue 18: BenchmarkDecide).
	if len(cred) < len(policy.KeyPrefix) || string(cred[:len(policy.KeyPrefix)]) != policy.KeyPrefix {
		if foldedKeyPrefix(cred) { // no key matches it; audited as what it looks like, never as a JWT
			x.method = audit.AuthAPIKey
			return audit.Unauthenticated
		}
		if x.prep.verifier == nil {
			return audit.Unauthenticated
		}
		return s.authenticateJWT(cred, x)
	}
	x.method = audit.AuthAPIKey
	key, id, hit, revoked := s.keys.VerifyFront(x.prep.keyFront, cred, x.at)
	x.keyHit = hit
	x.rec.SetKeyID(id)
	if revoked { // answered as Unauthenticated (deny.go)
		return audit.KeyRevoked
	}
	if key == nil {
		return audit.Unauthenticated
	}
	x.key, x.client, x.scopes = key, key.Client, key.Client.Scopes
	if key.AgeLimit != 0 && key.AgedAt(s.keyClock(x)) { // lifecycle.go: issue 20
		return audit.KeyExpiredByPolicy
	}
	if x.client.Suspended {
		return audit.Suspended
	}
	return audit.Allowed
}

// foldedKeyPrefix reports whether cred starts with policy.KeyPrefix in
// another case ("PK_", "Pk_"): an API key no record can match, since key
// ids and prefixes are compared exactly, but one the audit trail must
// name as an API key rather than a JWT (a JWT starts with "ey", the
// base64url of `{"`). Only credentials without the exact prefix reach it.
// Byte by byte, not bytes.EqualFold, so that it inlines and a JWT pays
// one compare of its first byte (BenchmarkDecideJWT); c|0x20 is c in
// lower case for the letters of the prefix and no other byte maps there.
// TestMixedCaseKeyPrefixIsAuditedAsAPIKey holds it to policy.KeyPrefix.
func foldedKeyPrefix(cred []byte) bool {
	return len(cred) >= 3 && cred[0]|0x20 == 'p' && cred[1]|0x20 == 'k' && cred[2] == '_'
}

// authenticateMTLS maps the verified client certificate of the request's
// connection to a policy client by its identities (SPIFFE or other URI
// SANs, then the subject). A certificate no client names, or one whose
// identities name two clients, authenticates nobody; nor does one that
// has expired since the connection's handshake (by the key clock), on a
// connection kept alive.
func (s *Server) authenticateMTLS(x *exchange) audit.Decision {
	x.method = audit.AuthMTLS
	if s.keyClock(x) >= x.certEnd {
		return audit.Unauthenticated
	}
	var client *policy.Client
	for _, id := range x.certIDs {
		c := x.snap.MTLSClient(id)
		if c == nil {
			continue
		}
		if client != nil && c != client {
			return audit.Unauthenticated
		}
		client = c
	}
	if client == nil {
		return audit.Unauthenticated
	}
	x.client, x.scopes = client, client.Scopes
	if client.Suspended {
		return audit.Suspended
	}
	return audit.Allowed
}

// authenticateJWT verifies an access token and maps it to a policy client:
// the client claim must name a client of the token's tenant (when it names
// one) and of a tenant the issuer may speak for, and the scopes granted are
// those of the token that the client may hold. A token the verifier's
// cache does not hold is verified in full only within its source's
// budget of failures (tokenbudget.go).
func (s *Server) authenticateJWT(token []byte, x *exchange) audit.Decision {
	x.method = audit.AuthJWT
	now := time.Unix(0, x.at)
	c, st, hit := x.prep.verifier.Cached(token, now)
	if !hit {
		key := s.tokens.key(x.peer)
		if x.limited = s.tokens.take(key, x.mono); !x.limited.OK {
			return audit.TokenFailuresLimited
		}
		if c, st = x.prep.verifier.VerifyUncached(token, now); st == jwt.OK || st == jwt.KeysUnavailable {
			s.tokens.refund(key, x.mono)
		}
	}
	if st != jwt.OK {
		s.metrics.tokenRefused[st].Add(1)
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
