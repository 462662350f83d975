package policy

import (
	"fmt"
	"slices"
	"strings"
)

// tenantWeakenings lists the routes of cur binding a segment to the
// caller's tenant ({tenant}) whose requests a route of next serves (the
// same method, or a HEAD for a GET, an overlapping template) without
// binding that segment, or public: {tenant} renamed {t} binds nothing, so
// one tenant's key reaches another's data (validation takes any name for
// a parameter). Before, such a push was a plain one
// (TestWeakeningsTenantUnbound).
func tenantWeakenings(cur, next *Document) []string {
	nextSegs := templates(next.Routes)
	var out []string
	for _, rs := range cur.Routes {
		segs, err := splitTemplate(rs.Path)
		k := slices.Index(segs, TenantParam)
		if err != nil || k < 0 || rs.Public {
			continue
		}
		for i, now := range next.Routes {
			if serves(now.Method, rs.Method) && nextSegs[i] != nil && overlap(segs, nextSegs[i]) &&
				(now.Public || nextSegs[i][k] != TenantParam) {
				out = append(out, fmt.Sprintf("route %q binds segment %d to the caller's tenant; route %q, which serves its requests, does not", rs.Method+" "+rs.Path, k+1, now.Method+" "+now.Path))
			}
		}
	}
	return out
}

// loneHeadWeakenings lists the HEAD routes of next that no GET route of
// next covers, unless cur has a HEAD route of the same path that the one
// of next is checked no less than. Services run their GET handler for a
// HEAD, so such a HEAD reaches a handler the document describes nowhere.
// The comparison with cur's GET routes (serves) sees a GET replaced in
// the same push only: a privileged GET removed in one push (a route gone
// weakens nothing) and a public HEAD of its path added in the next were
// two plain pushes (TestWeakeningsHeadAfterItsGetWent). Neither push's
// document shows the handler is privileged, and the sidecar does not know
// the service's handlers, so the HEAD without a GET is what needs a second
// person; one with a GET covering it runs a handler that GET route
// already exposes, held to it by validation (headLooser) and push
// (headApprovalLooser). A first push (cur built empty) weakens nothing.
func loneHeadWeakenings(cur, next *Document) []string {
	if len(cur.Routes) == 0 && cur.SourceDigest() == "" {
		return nil
	}
	nextSegs := templates(next.Routes)
	var out []string
	for i, h := range next.Routes {
		if h.Method != "HEAD" || nextSegs[i] == nil {
			continue
		}
		covered := false
		for j, g := range next.Routes {
			covered = covered || g.Method == "GET" && nextSegs[j] != nil && covers(nextSegs[j], nextSegs[i])
		}
		if covered || keptHead(cur, next, h, nextSegs[i]) {
			continue
		}
		out = append(out, fmt.Sprintf("route %q is covered by no GET route, and services run a GET handler for it (one a GET route removed before may have guarded)", "HEAD "+h.Path))
	}
	return out
}

// keptHead reports whether cur has a HEAD route of h's path (of next)
// that h is checked no less than: the handler it runs was reached so
// before.
func keptHead(cur, next *Document, h RouteSpec, hs []string) bool {
	i := slices.IndexFunc(cur.Routes, func(r RouteSpec) bool { return r.Method == "HEAD" && r.Path == h.Path })
	if i < 0 {
		return false
	}
	was := cur.Routes[i]
	if len(looserThan(h, was, hs, hs)) > 0 {
		return false
	}
	wa, na := DocApproval(cur, was), DocApproval(next, h)
	return wa == nil || na != nil && na.MaxUses <= wa.MaxUses && na.MaxAge <= wa.MaxAge
}

// covers reports whether the template g matches every path the template
// h matches: a parameter of g, or the same literal ignoring case (as
// overlap compares them), at each segment. Routes of one method do not
// overlap in a valid document, so if no GET route covers a HEAD alone, a
// path of the HEAD with a fresh value in each parameter matches no GET.
func covers(g, h []string) bool {
	if len(g) != len(h) {
		return false
	}
	for i := range g {
		if !isParam(g[i]) && (isParam(h[i]) || !strings.EqualFold(g[i], h[i])) {
			return false
		}
	}
	return true
}

// templates are the segments of the routes' templates, nil for a bad one
// (which Load refuses).
func templates(rs []RouteSpec) [][]string {
	segs := make([][]string, len(rs))
	for i, r := range rs {
		segs[i], _ = splitTemplate(r.Path)
	}
	return segs
}
