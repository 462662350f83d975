package policy

import (
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

// issuerAcceptanceWeakenings is the third kind of rules 6: an issuer of
// cur kept by id that accepts more of its tokens: an audience added
// (tokens minted for another service pass here), a typ accepted that was
// not (from none set to some, ID tokens too, whose claims an issuer
// without types refuses), a longer clock_skew (tokens pass longer after
// their exp) or a longer max_lifetime, or its bound removed. Each was a
// plain push (TestWeakeningsIssuerAcceptsMore, left by attack815).
func issuerAcceptanceWeakenings(cur, next *Document) []string {
	var out []string
	for _, is := range next.Issuers {
		i := slices.IndexFunc(cur.Issuers, func(o IssuerSpec) bool { return o.ID == is.ID })
		if i < 0 {
			continue // an issuer added: issuers' tenants (rules 3)
		}
		was := cur.Issuers[i]
		var why []string
		for _, a := range is.Audiences {
			if !slices.Contains(was.Audiences, a) {
				why = append(why, fmt.Sprintf("audience %q added", a))
			}
		}
		why = append(why, typesWidened(was.Types, is.Types)...)
		if w, n := durationOf(was.ClockSkew), durationOf(is.ClockSkew); n > w {
			why = append(why, fmt.Sprintf("clock_skew %s -> %s", orNone(was.ClockSkew, "0s"), is.ClockSkew))
		}
		switch w, n := durationOf(was.MaxLifetime), durationOf(is.MaxLifetime); {
		case w > 0 && n == 0:
			why = append(why, fmt.Sprintf("max_lifetime %s -> no bound", was.MaxLifetime))
		case w > 0 && n > w:
			why = append(why, fmt.Sprintf("max_lifetime %s -> %s", was.MaxLifetime, is.MaxLifetime))
		}
		if len(why) > 0 {
			out = append(out, fmt.Sprintf("issuer %q accepts more of its tokens: %s", is.ID, strings.Join(why, ", ")))
		}
	}
	return out
}

// typesWidened names the typ values next accepts that was did not, as
// the data plane reads them (case-insensitive; none set: absent, JWT or
// at+jwt, and no ID-token claim).
func typesWidened(was, next []string) []string {
	switch {
	case len(was) == 0 && len(next) == 0, len(was) > 0 && len(next) == 0 && containsFold(was, "JWT") && containsFold(was, "at+jwt"):
		return nil
	case len(next) == 0:
		return []string{"types removed: absent, JWT and at+jwt accepted"}
	case len(was) == 0:
		why := []string{"types set: tokens with ID-token claims (nonce, at_hash, c_hash) accepted"}
		for _, t := range next {
			if !strings.EqualFold(t, "JWT") && !strings.EqualFold(t, "at+jwt") {
				why = append(why, fmt.Sprintf("typ %q accepted", t))
			}
		}
		return why
	}
	var why []string
	for _, t := range next {
		if !containsFold(was, t) {
			why = append(why, fmt.Sprintf("typ %q accepted", t))
		}
	}
	return why
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(v, s) })
}

// orNone is s, or none when s is left out.
func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

// durationOf is a duration of a document that loaded (validated), 0 when
// left out.
func durationOf(s string) time.Duration {
	d, _ := parseDuration(s)
	return d
}
