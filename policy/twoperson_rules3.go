package policy

import (
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"
)

// The kinds weakening rules 3 added (WeakeningRules): each loosened a
// control one operator's push changed alone (TestWeakeningsRules3).

// firstPush reports whether cur is no policy at all (an empty Document,
// built in code): a first push sets up what later ones weaken.
func firstPush(cur *Document) bool {
	return cur.SourceDigest() == "" && len(cur.Routes) == 0 && len(cur.Classes) == 0
}

// rules3Weakenings lists what next loosens of cur by the kinds rules 3
// added: classes' limits and caps (of every kind) and the checks of a
// class that is not privileged, the scopes of routes, public_routes,
// trusted_proxies whatever the classes, and issuers' tenants.
func rules3Weakenings(cur, next *Document) []string {
	if firstPush(cur) {
		return nil
	}
	var out []string
	for _, was := range cur.Classes {
		now, ok := classOf(next, was.Name)
		if !ok {
			continue
		}
		why := looserLimits(was, now)
		if !privilegedKind(was.Kind) {
			why = append(looserClass(was, now), why...)
		}
		for _, w := range why {
			out = append(out, fmt.Sprintf("class %q (%s) %s", was.Name, was.Kind, w))
		}
	}
	out = append(out, routeAnyScopeWeakenings(cur, next)...)
	if was, now := cur.PublicRoutes, next.PublicRoutes; was != nil && (now == nil || now.MaxInFlight > was.MaxInFlight) {
		n := "removed (the sidecar's default)"
		if now != nil {
			n = fmt.Sprintf("%d", now.MaxInFlight)
		}
		out = append(out, fmt.Sprintf("public_routes.max_in_flight raised from %d to %s", was.MaxInFlight, n))
	}
	if !slices.ContainsFunc(cur.Classes, func(c ClassSpec) bool { return privilegedKind(c.Kind) && len(c.AllowCIDRs) > 0 }) {
		// Else proxyWeakenings (rules 1) lists them already.
		for _, s := range next.TrustedProxies {
			if !insideAny(s, cur.TrustedProxies) {
				out = append(out, fmt.Sprintf("trusted_proxies widened: %s is inside none of %v: a proxy there forwards any source address it likes, into the audit records and the detection rules grouped by source", s, cur.TrustedProxies))
			}
		}
	}
	// A tenant header moved to refuse_headers is refused outright: less
	// goes on than before (read96).
	out = append(out, headersDropped("tenant_headers", cur.TenantHeaders, slices.Concat(next.TenantHeaders, next.RefuseHeaders),
		"a caller's header of that name goes on to the service, which reads its tenant from it")...)
	out = append(out, headersDropped("refuse_headers", cur.RefuseHeaders, next.RefuseHeaders,
		"a credential in it crosses to the service unverified")...)
	out = append(out, headersDropped("refuse_cookies", cur.RefuseCookies, next.RefuseCookies,
		"a credential in that cookie crosses to the service unverified")...)
	out = append(out, headersDropped("tenant_params", cur.TenantParams, next.TenantParams,
		"on a route binding {tenant}, a caller's parameter of that name goes on to the service, which reads its tenant from it")...)
	out = append(out, headersDropped("tenant_cookies", cur.TenantCookies, next.TenantCookies,
		"on a route binding {tenant}, a caller's cookie of that name goes on to the service, which reads its tenant from it")...)
	for _, is := range next.Issuers {
		i := slices.IndexFunc(cur.Issuers, func(o IssuerSpec) bool { return o.ID == is.ID })
		for _, t := range is.Tenants {
			if i < 0 || !slices.Contains(cur.Issuers[i].Tenants, t) {
				out = append(out, fmt.Sprintf("issuer %q given tenant %q: its tokens may name that tenant's clients", is.ID, t))
			}
		}
	}
	return out
}

// looserLimits says how class now bounds a request less than class was:
// max_body or max_response_body raised, its limit allowing more (or
// gone), its concurrency allowing more (or gone). A value that does not
// parse is taken for the looser side; one left out of was bounds nothing
// now loosens (max_response_body: the data plane's cap).
func looserLimits(was, now ClassSpec) []string {
	var why []string
	raised := func(name, a, b string) {
		if a != "" && sizeOr(b, 1<<62) > sizeOr(a, 0) {
			why = append(why, fmt.Sprintf("%s raised from %s to %s", name, a, cmpOr(b, "none")))
		}
	}
	raised("max_body", was.MaxBody, now.MaxBody)
	raised("max_response_body", was.MaxResponseBody, now.MaxResponseBody)
	if was.Limit != nil {
		wr, err := ParseRate(*was.Limit)
		if err == nil {
			var nr Rate
			var err2 error = errNone
			if now.Limit != nil {
				nr, err2 = ParseRate(*now.Limit)
			}
			if err2 != nil || perHour(nr) > perHour(wr) || nr.Burst > wr.Burst {
				why = append(why, fmt.Sprintf("limit raised from %s to %s", limitText(was.Limit), limitText(now.Limit)))
			}
		}
	}
	if w := was.Concurrency; w != nil {
		n := now.Concurrency
		if n == nil || n.Max > w.Max || n.Queue > w.Queue || durationOr(n.MaxWait, 1<<62) > durationOr(w.MaxWait, 0) {
			why = append(why, fmt.Sprintf("concurrency raised from %s to %s", concurrencyText(w), concurrencyText(n)))
		}
	}
	return why
}

var errNone = fmt.Errorf("none")

// perHour is r's events an hour, the unit every rate converts to exactly.
func perHour(r Rate) int64 { return r.Events * int64(time.Hour/r.Per) }

func limitText(l *LimitSpec) string {
	if l == nil {
		return "none"
	}
	return fmt.Sprintf("%s burst %d", l.Rate, l.Burst)
}

func concurrencyText(c *ConcurrencySpec) string {
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("max %d queue %d max_wait %s", c.Max, c.Queue, cmpOr(c.MaxWait, "0s"))
}

// routeAnyScopeWeakenings lists the routes of cur whose requests a route
// of next serves (serves, overlap) public where they were not, or
// without one of their scopes: privileged or not, any client of the
// tenant reaches it then. A scope privileged in cur while
// privileged_key_approval is on is routeScopeWeakenings' (rules 1).
func routeAnyScopeWeakenings(cur, next *Document) []string {
	curPriv := privilegedScopes(cur)
	nextSegs := templates(next.Routes)
	var out []string
	for _, rs := range cur.Routes {
		segs, err := splitTemplate(rs.Path)
		if rs.Public || err != nil {
			continue
		}
		name := rs.Method + " " + rs.Path
		for i, now := range next.Routes {
			if !serves(now.Method, rs.Method) || nextSegs[i] == nil || !overlap(segs, nextSegs[i]) {
				continue
			}
			if now.Public {
				out = append(out, fmt.Sprintf("route %q served by route %q, which is public", name, now.Method+" "+now.Path))
				continue
			}
			for _, sc := range rs.Scopes {
				if !slices.Contains(now.Scopes, sc) && !(keyApproval(cur) && curPriv[sc]) {
					out = append(out, fmt.Sprintf("route %q served by route %q, which does not require its scope %q", name, now.Method+" "+now.Path, sc))
				}
			}
		}
	}
	return out
}

// FormerRouteWeakenings lists the routes of next that serve requests of
// a route no route of cur serves and that an earlier document (earlier,
// newest first: the policy history before cur) held with more checked:
// public where it was not, without its {tenant} binding or one of its
// scopes, in a class that checks or bounds less (or is not privileged
// where it was), or with less of an approval. Compared with cur alone, a
// route removed by one push (a route gone weakens nothing: its requests
// are refused) and put back with less by the next was two plain pushes
// (TestWeakeningsRouteRemovedThenReadded); so was one put back inside a
// route of cur widened to serve its requests too (GET /v1/users/{id}
// made GET /v1/{section}/{id}, which serves a removed GET
// /v1/admin/audit: TestWeakeningsRouteRemovedThenCoveredByAWiderOne).
// Each route of next is compared with the routes of the newest earlier
// document that has any serving its requests that no route of cur
// serves: what they were the last time they existed. A route removed on
// purpose and put back as it was weakens nothing. earlier is read only when a route
// of next is not one of cur (the same method and template, in any case,
// parameters named alike or not), and only as far as such a route needs;
// a first push weakens nothing.
func FormerRouteWeakenings(cur, next *Document, earlier iter.Seq[*Document]) []string {
	if firstPush(cur) {
		return nil
	}
	nextSegs := templates(next.Routes)
	curSegs := templates(cur.Routes)
	curKeys := map[string]bool{}
	for j, c := range cur.Routes {
		if curSegs[j] != nil {
			curKeys[routeKey(c.Method, curSegs[j])] = true
		}
	}
	var open []int // routes of next that are not a route of cur
	for i, n := range next.Routes {
		if nextSegs[i] != nil && !curKeys[routeKey(n.Method, nextSegs[i])] {
			open = append(open, i)
		}
	}
	if len(open) == 0 {
		return nil // earlier is not read
	}
	// servedNow: whether a route of cur serves some of the requests of
	// method to segs, which cur's rules then judge.
	servedNow := func(method string, segs []string) bool {
		for j, c := range cur.Routes {
			if curSegs[j] != nil && serves(c.Method, method) && overlap(curSegs[j], segs) {
				return true
			}
		}
		return false
	}
	var out []string
	for d := range earlier {
		if d == nil {
			continue
		}
		dSegs := templates(d.Routes)
		open = slices.DeleteFunc(open, func(i int) bool {
			n := next.Routes[i]
			found := false
			for j, o := range d.Routes {
				if dSegs[j] == nil || !serves(n.Method, o.Method) || !overlap(dSegs[j], nextSegs[i]) ||
					servedNow(o.Method, common(dSegs[j], nextSegs[i])) {
					continue // cur's rules judge the requests both serve
				}
				found = true
				if why := formerLooser(d, o, dSegs[j], next, n, nextSegs[i]); len(why) > 0 {
					out = append(out, fmt.Sprintf("route %q serves the requests of route %q, removed by an earlier push, with less checked than it had the last time it existed: %s",
						n.Method+" "+n.Path, o.Method+" "+o.Path, strings.Join(why, ", ")))
				}
			}
			return found
		})
		if len(open) == 0 {
			break
		}
	}
	return out
}

// common is the template of the requests both overlapping templates a
// and b serve: a literal segment of either, else a parameter.
func common(a, b []string) []string {
	out := make([]string, len(a))
	for i := range a {
		out[i] = a[i]
		if isParam(a[i]) {
			out[i] = b[i]
		}
	}
	return out
}

// routeKey names a route by its method and template segs, literals in
// lower case and parameters unnamed ({tenant} kept: it binds).
func routeKey(method string, segs []string) string {
	var b strings.Builder
	b.WriteString(method)
	for _, s := range segs {
		b.WriteByte('/')
		switch {
		case s == TenantParam:
			b.WriteString(s)
		case isParam(s):
			b.WriteString("{}")
		default:
			b.WriteString(strings.ToLower(s))
		}
	}
	return b.String()
}

// formerLooser says how route n of next checks less than route o of the
// earlier document d, whose requests it serves.
func formerLooser(d *Document, o RouteSpec, os []string, next *Document, n RouteSpec, ns []string) []string {
	if o.Public {
		return nil
	}
	var why []string
	if n.Public {
		why = append(why, "public where that needed a credential")
	} else {
		if k := slices.Index(os, TenantParam); k >= 0 && ns[k] != TenantParam {
			why = append(why, fmt.Sprintf("without binding segment %d to the caller's tenant", k+1))
		}
		for _, sc := range o.Scopes {
			if !slices.Contains(n.Scopes, sc) {
				why = append(why, "without scope "+sc)
			}
		}
	}
	wc, _ := classOf(d, o.Class)
	nc, _ := classOf(next, n.Class) // the zero class, checking nothing, for one Load refuses
	if privilegedKind(wc.Kind) && !privilegedKind(nc.Kind) {
		why = append(why, fmt.Sprintf("in class %q (%s), not %q (%s)", nc.Name, nc.Kind, wc.Name, wc.Kind))
	}
	for _, w := range append(looserClass(wc, nc), looserLimits(wc, nc)...) {
		why = append(why, "class "+w)
	}
	wa, na := DocApproval(d, o), DocApproval(next, n)
	if wa != nil && (na == nil || na.MaxUses > wa.MaxUses || na.MaxAge > wa.MaxAge) {
		why = append(why, "with less of an approval")
	}
	return why
}

// headersDropped lists the header names of list in was that now does not
// hold, in any case (header names are), each with what that lets through.
func headersDropped(list string, was, now []string, why string) []string {
	var out []string
	for _, h := range was {
		if !slices.ContainsFunc(now, func(n string) bool { return strings.EqualFold(n, h) }) {
			out = append(out, fmt.Sprintf("%s no longer names %q: %s", list, h, why))
		}
	}
	return out
}
