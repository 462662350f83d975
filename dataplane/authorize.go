package dataplane

import (
	"net/netip"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// authorize, step 5 of the request path, checks scopes and, for
// privileged classes, the source network, the auth method and the token
// age.
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
