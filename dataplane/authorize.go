package dataplane

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// authorize, step 5 of the request path, checks the tenant the path
// and a tenant header name, scopes and, for privileged classes, the
// source network, the auth method and the credential's age. The tenant comes first: a caller
// probing another tenant's paths is audited as tenant_mismatch, whatever
// else it lacks. decideAgain (recheck.go) runs it again on new tables.
func (s *Server) authorize(x *exchange) audit.Decision {
	if n := x.route.TenantSeg; n != 0 && !tenantBound(x, n) {
		return audit.TenantMismatch
	}
	if !tenantHeaderOK(x) { // tenantheader.go
		return audit.BadRequest
	}
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
	if class.MaxTokenAge > 0 {
		if age, known := s.credentialAge(x); !known || age > class.MaxTokenAge {
			return audit.TokenTooOld
		}
	}
	return audit.Allowed
}

// tenantBound reports whether segment n (from 1) of the request's
// normalised path, the route's {tenant}, is the caller's tenant id, byte
// for byte. Normalisation (route.go) has decoded escaped unreserved
// characters ("%61cme" is "acme", and reaches the service so), kept every
// other escape in upper case, resolved dot segments and collapsed
// slashes, so the segment compared is the one the service receives; a
// tenant id is lower-case unreserved characters only (policy.TenantIDRule),
// so no other spelling of one (upper case, an escape left, a byte more)
// equals it. The route matched, so the path has segment n.
func tenantBound(x *exchange, n int) bool {
	return x.client != nil && pathTenant(x.path, n, x.client.Tenant.ID)
}

// pathTenant reports whether segment n (from 1) of the normalised path p
// is tenant, byte for byte (tenantBound). The check before the body
// (prebody.go) runs it on the path it normalised into its own buffer.
func pathTenant(p []byte, n int, tenant string) bool {
	for ; n > 0; n-- { // p: from the '/' before segment n
		i := bytes.IndexByte(p[1:], '/')
		if n == 1 {
			if i >= 0 {
				p = p[:i+1]
			}
			return string(p[1:]) == tenant
		}
		if i < 0 {
			return false
		}
		p = p[i+1:]
	}
	return false
}

// credentialAge is how long ago the request's credential was issued, for
// a class's max_token_age: a JWT's iat, an API key's created_at (else its
// not_before), a client certificate's notBefore. known is false when the
// credential does not say, which max_token_age refuses. Before, the bound
// applied to JWTs alone, and a years-old API key or certificate passed a
// privileged class that allows them.
func (s *Server) credentialAge(x *exchange) (age time.Duration, known bool) {
	var born time.Time
	switch {
	case x.method == audit.AuthJWT && x.claims != nil && x.claims.HasIssuedAt: // iat 0 is 1970, not none
		return time.Unix(0, x.at).Sub(time.Unix(x.claims.IssuedAt, 0)), true
	case x.method == audit.AuthAPIKey && x.key != nil && x.key.Born != 0:
		born = time.Unix(0, x.key.Born)
	case x.method == audit.AuthMTLS && x.certBorn != 0:
		born = time.Unix(0, x.certBorn)
	default:
		return 0, false
	}
	return time.Unix(0, s.keyClock(x)).Sub(born), true
}

// methodBit is the policy's bit for the auth method m.
func methodBit(m audit.AuthMethod) policy.AuthMethods {
	switch m {
	case audit.AuthAPIKey:
		return policy.MethodAPIKey
	case audit.AuthJWT:
		return policy.MethodJWT
	case audit.AuthMTLS:
		return policy.MethodMTLS
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
