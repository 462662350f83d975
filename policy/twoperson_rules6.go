package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// routeLimitWeakenings is the kind weakening rules 6 added (WeakeningRules):
// a route of cur served (serves, overlap) by a route of next in another
// class that bounds it less (looserLimits). The classes' limits of rules 3
// compare each class with itself by name, so one push that added a class
// without a limit and moved a route to it raised that route's bounds
// alone, where raising its class's took an approval
// (TestWeakeningsRouteMovedToALooserClass, attack815).
func routeLimitWeakenings(cur, next *Document) []string {
	if firstPush(cur) {
		return nil
	}
	nextSegs := make([][]string, len(next.Routes))
	for i, rs := range next.Routes {
		nextSegs[i], _ = splitTemplate(rs.Path) // nil for a bad one, which Load refuses
	}
	var out []string
	for _, rs := range cur.Routes {
		was, ok := classOf(cur, rs.Class)
		segs, err := splitTemplate(rs.Path)
		if !ok || err != nil {
			continue
		}
		for i, now := range next.Routes {
			if !serves(now.Method, rs.Method) || now.Class == rs.Class || nextSegs[i] == nil || !overlap(segs, nextSegs[i]) {
				continue
			}
			nc, _ := classOf(next, now.Class) // the zero class, bounding nothing, for one Load refuses
			if why := looserLimits(was, nc); len(why) > 0 {
				out = append(out, fmt.Sprintf("route %q of class %q served by route %q of class %q, whose %s",
					rs.Method+" "+rs.Path, was.Name, now.Method+" "+now.Path, now.Class, strings.Join(why, ", ")))
			}
		}
	}
	return out
}

// keptIssuerWeakenings lists, for each issuer of cur kept by id in next, the
// two issuer kinds of rules 6: its signer replaced (signerReplaced) and
// its tokens accepted more widely (acceptsMore). An issuer added is the
// issuers' tenants of rules 3.
func keptIssuerWeakenings(cur, next *Document) []string {
	var out []string
	for _, is := range next.Issuers {
		i := slices.IndexFunc(cur.Issuers, func(o IssuerSpec) bool { return o.ID == is.ID })
		if i < 0 {
			continue
		}
		was := &cur.Issuers[i]
		if why := signerReplaced(was, &is); len(why) > 0 {
			out = append(out, fmt.Sprintf("issuer %q: %s: tokens another signer makes may name the clients of its tenants %v", is.ID, strings.Join(why, ", "), is.Tenants))
		}
		if why := acceptsMore(was, &is); len(why) > 0 {
			out = append(out, fmt.Sprintf("issuer %q accepts more of its tokens: %s", is.ID, strings.Join(why, ", ")))
		}
	}
	return out
}

// signerReplaced says how is, kept from was, may take tokens another
// signer makes (issuer, jwks, jwks_url or hmac_secret changed, an
// algorithm added) or reads its tenant or client from another claim. The
// issuers' tenants of rules 3 hold an issuer added to an approval, but
// one operator could keep demo-idp's id and tenants and point its jwks at
// a key of their own: an issuer added in all but name, whose tokens name
// any client of its tenants (TestWeakeningsIssuerSignerReplaced,
// attack815).
func signerReplaced(was, is *IssuerSpec) []string {
	var why []string
	if is.Issuer != was.Issuer || is.JWKS != was.JWKS || is.JWKSURL != was.JWKSURL || is.HMACSecret != was.HMACSecret {
		why = append(why, "its signing keys (issuer, jwks, jwks_url or hmac_secret) changed")
	}
	for _, a := range is.Algorithms {
		if !slices.Contains(was.Algorithms, a) {
			why = append(why, fmt.Sprintf("algorithm %s added", a))
		}
	}
	if is.TenantClaim != was.TenantClaim || is.ClientClaim != was.ClientClaim {
		why = append(why, "its tenant_claim or client_claim changed")
	}
	return why
}

// acceptsMore says how is, kept from was, accepts more of its tokens: an
// audience added (tokens minted for another service pass here), types
// changed to take a typ it did not (typesWidened), a longer clock_skew
// (tokens pass longer after their exp), or a longer max_lifetime or its
// bound removed. Each was a plain push (TestWeakeningsIssuerAcceptsMore,
// left by attack815).
func acceptsMore(was, is *IssuerSpec) []string {
	var why []string
	for _, a := range is.Audiences {
		if !slices.Contains(was.Audiences, a) {
			why = append(why, fmt.Sprintf("audience %q added", a))
		}
	}
	why = append(why, typesWidened(was.Types, is.Types)...)
	if durationOf(is.ClockSkew) > durationOf(was.ClockSkew) {
		why = append(why, fmt.Sprintf("clock_skew %s -> %s", cmp.Or(was.ClockSkew, "0s"), is.ClockSkew))
	}
	if w, n := durationOf(was.MaxLifetime), durationOf(is.MaxLifetime); w > 0 && (n == 0 || n > w) {
		why = append(why, fmt.Sprintf("max_lifetime %s -> %s", was.MaxLifetime, cmp.Or(is.MaxLifetime, "no bound")))
	}
	return why
}

// typesWidened names what next's types accept that was's did not, as the
// data plane reads them (jwt.Config.Types: case-insensitive; none set:
// an absent typ, JWT or at+jwt, and no ID-token claim). From none to some,
// ID tokens pass; from some to none, an absent typ does: both are
// counted, as public_routes set or removed is, whatever the lists hold.
func typesWidened(was, next []string) []string {
	switch {
	case len(was) == 0 && len(next) > 0:
		return []string{fmt.Sprintf("types %v set: tokens with ID-token claims (nonce, at_hash, c_hash) accepted", next)}
	case len(was) > 0 && len(next) == 0:
		return []string{fmt.Sprintf("types %v removed: a token without typ accepted", was)}
	}
	var why []string
	for _, t := range next {
		if !slices.ContainsFunc(was, func(v string) bool { return strings.EqualFold(v, t) }) {
			why = append(why, fmt.Sprintf("typ %q accepted", t))
		}
	}
	return why
}

// durationOf is a duration of a document that loaded (validated), 0 when
// left out.
func durationOf(s string) time.Duration {
	d, _ := parseDuration(s)
	return d
}

// publicRoutesSet is the last kind of rules 6: public_routes set where
// the policy in force left it out. Its cap replaces the sidecar's default
// (a quarter of its --max-upstream-conns), which the document does not
// know, so any value counts, erring towards weakening as public_routes
// removed does: before, one push set max_in_flight: 1048576 alone, the
// public routes then taking every upstream connection
// (TestWeakeningsPublicRoutesSetOverTheDefault, attack815).
func publicRoutesSet(cur, next *Document) []string {
	if firstPush(cur) || cur.PublicRoutes != nil || next.PublicRoutes == nil {
		return nil
	}
	return []string{fmt.Sprintf("public_routes set: max_in_flight %d in place of the sidecar's default, a quarter of its upstream connections", next.PublicRoutes.MaxInFlight)}
}
