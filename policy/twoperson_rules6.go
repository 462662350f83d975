package policy

import (
	"fmt"
	"slices"
	"strings"
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

// issuerSignerWeakenings is the other kind of rules 6: an issuer of cur
// kept by id whose tokens another signer may now make (issuer, jwks,
// jwks_url or hmac_secret changed, an algorithm added) or that read their
// tenant or client from another claim. The issuers' tenants of rules 3
// hold an issuer added to an approval, but one operator could keep
// demo-idp's id and tenants and point its jwks at a key of their own:
// an issuer added in all but name, whose tokens name any client of its
// tenants (TestWeakeningsIssuerSignerReplaced, attack815).
func issuerSignerWeakenings(cur, next *Document) []string {
	var out []string
	for _, is := range next.Issuers {
		i := slices.IndexFunc(cur.Issuers, func(o IssuerSpec) bool { return o.ID == is.ID })
		if i < 0 {
			continue // an issuer added: issuers' tenants (rules 3)
		}
		was := cur.Issuers[i]
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
		if len(why) > 0 {
			out = append(out, fmt.Sprintf("issuer %q: %s: tokens another signer makes may name the clients of its tenants %v", is.ID, strings.Join(why, ", "), is.Tenants))
		}
	}
	return out
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
