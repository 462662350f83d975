// Validation of routes: templates split and checked, overlapping routes refused, HEAD routes
// checked no less than their GET, and the {tenant} segment found.

package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
)

func (v *validator) routes(rs []RouteSpec, scopes map[string]bool, classes map[string]*ClassSpec) {
	if len(rs) > MaxRoutes {
		// Not checked one by one: the comparisons of every pair are what
		// the cap bounds.
		v.addf(v.lines.section("routes", 0), "%d routes defined, at most %d allowed", len(rs), MaxRoutes)
		return
	}
	tmpls := make([][]string, len(rs))
	for i, r := range rs {
		at := func(field string) int { return v.lines.at("routes", i, field, -1) }
		if !routeMethods[r.Method] {
			v.addf(at("method"), "route %s %s: method must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", r.Method, r.Path)
		}
		segs, err := splitTemplate(r.Path)
		if err != nil {
			v.addf(at("path"), "route %s %s: %v", r.Method, r.Path, err)
		} else if _, err := tenantSegment(r, segs); err != nil {
			v.addf(at("path"), "%v", err)
		}
		tmpls[i] = segs
		class, ok := classes[r.Class]
		switch {
		case r.Class == "":
			v.addf(at("class"), "route %s %s: class is missing (one of %s)", r.Method, r.Path, strings.Join(slices.Sorted(maps.Keys(classes)), ", "))
		case !ok:
			v.addf(at("class"), "route %s %s: unknown class %q", r.Method, r.Path, r.Class)
		}
		if r.Public && (len(r.Scopes) > 0 || (ok && privilegedKind(class.Kind))) {
			v.addf(at("public"), "route %s %s: a public route can have no scopes and no privileged class", r.Method, r.Path)
		}
		if r.AllowBody && r.Method != "GET" && r.Method != "DELETE" && r.Method != "OPTIONS" {
			v.addf(at("allow_body"), "route %s %s: allow_body is only for GET, DELETE and OPTIONS routes", r.Method, r.Path)
		}
		v.routeApproval(r, i, class)
		if !r.Public && len(r.Scopes) == 0 {
			v.addf(at(""), "route %s %s: needs scopes (or public: true)", r.Method, r.Path)
		}
		for j, s := range r.Scopes {
			priv, known := scopes[s]
			switch {
			case !known:
				v.addf(v.lines.at("routes", i, "scopes", j), "route %s %s: unknown scope %q", r.Method, r.Path, s)
			case priv && ok && !privilegedKind(class.Kind):
				v.addf(v.lines.at("routes", i, "scopes", j), "route %s %s: privileged scope %q on non-privileged class %q", r.Method, r.Path, s, r.Class)
			}
		}
		v.overlapping(rs, tmpls, i)
	}
	v.headLooser(rs, tmpls, classes)
}

// overlapping reports route i of rs against the first route before it
// that matches the same requests, if any (tmpls are their segments, nil
// for a bad template). One problem a route, not one a pair: n copies of
// a route made n²/2 problems, and 36,000 of them (1.4 MiB, a value etcd
// takes) took a sidecar reading them out of memory
// (TestRepeatedRoutesProblemsBounded).
func (v *validator) overlapping(rs []RouteSpec, tmpls [][]string, i int) {
	r, segs := rs[i], tmpls[i]
	if segs == nil {
		return
	}
	for j := range i {
		if rs[j].Method != r.Method || tmpls[j] == nil || !overlap(segs, tmpls[j]) {
			continue
		}
		how := ""
		if !overlapExact(segs, tmpls[j]) {
			how = " ignoring case (a service that routes without case, as Express and ASP.NET Core do by default, takes one for the other)"
		}
		v.addf(v.lines.at("routes", i, "", -1), "route %s %s matches the same requests as route %s %s at line %d%s",
			r.Method, r.Path, rs[j].Method, rs[j].Path, v.lines.at("routes", j, "", -1), how)
		return
	}
}

// headLooser refuses a HEAD route checked less than a GET route whose
// requests it matches (ignoring case, as overlap does): services run the
// GET handler for a HEAD (Go's ServeMux, Express, Spring, Rails), so a
// public HEAD /v1/{x} beside GET /v1/admin/export would run the export
// for anyone. tmpls are the routes' segments (nil for a bad template);
// classes are the document's, by name.
func (v *validator) headLooser(rs []RouteSpec, tmpls [][]string, classes map[string]*ClassSpec) {
	for _, f := range headFindings(rs, tmpls, classes) {
		if len(f.looser) > 0 {
			v.addf(v.lines.at("routes", f.head, "", -1), "route HEAD %s is checked less than route GET %s at line %d, whose requests it matches (%s): "+
				"services run the GET handler for a HEAD (Go's ServeMux, Express, Spring, Rails), so it would run for a request that route never checked",
				rs[f.head].Path, rs[f.get].Path, v.lines.at("routes", f.get, "", -1), strings.Join(f.looser, "; "))
		}
	}
}

// headFinding is what headFindings finds of the HEAD route rs[head]
// against the GET route rs[get] whose requests it matches.
type headFinding struct {
	head, get int
	looser    []string // looserThan: Load refuses it
	approval  string   // headApprovalLooser: push refuses it (CheckPush)
}

// headFindings walks the HEAD/GET pairs of rs whose templates (tmpls, nil
// for a bad one) overlap and returns those where the HEAD is checked less
// in either way: Load's rule and the push rule, found in one walk
// (classes are the document's, by name).
func headFindings(rs []RouteSpec, tmpls [][]string, classes map[string]*ClassSpec) []headFinding {
	var out []headFinding
	for i, h := range rs {
		if h.Method == "HEAD" && tmpls[i] != nil {
			out = headFindingsOf(out, rs, tmpls, classes, i)
		}
	}
	return out
}

// headFindingsOf appends to out the findings of HEAD route rs[i]: the
// first GET route it is checked less than by Load's rule, and the first
// by the push rule (the same one when both). One finding of each a HEAD
// route, not one a GET route: h HEAD routes beside g GET routes they all
// match made h*g findings, and as many problems
// (TestHeadRoutesProblemsBounded).
func headFindingsOf(out []headFinding, rs []RouteSpec, tmpls [][]string, classes map[string]*ClassSpec, i int) []headFinding {
	looser, approval := false, false
	for j, g := range rs {
		if g.Method != "GET" || tmpls[j] == nil || !overlap(tmpls[i], tmpls[j]) {
			continue
		}
		f := headFinding{head: i, get: j}
		if !looser {
			f.looser = looserThan(rs[i], g, tmpls[i], tmpls[j])
		}
		if !approval {
			f.approval = headApprovalLooser(rs[i], g, classes)
		}
		looser, approval = looser || len(f.looser) > 0, approval || f.approval != ""
		if len(f.looser) > 0 || f.approval != "" {
			out = append(out, f)
		}
		if looser && approval {
			break
		}
	}
	return out
}

// looserThan says how route h is checked less than route g: public where
// g is not, without binding the segment g binds to the caller's tenant,
// without a scope of g's, or in another class (the approval each
// requires is compared at push: headApprovalLooser). hs and gs are their
// templates' segments (overlap: as many).
func looserThan(h, g RouteSpec, hs, gs []string) (why []string) {
	if g.Public {
		return nil
	}
	if h.Public {
		return []string{"public where that needs a credential"}
	}
	if k := slices.Index(gs, TenantParam); k >= 0 && hs[k] != TenantParam {
		why = append(why, fmt.Sprintf("without binding segment %d to the caller's tenant, as %s does", k+1, TenantParam))
	}
	for _, sc := range g.Scopes {
		if !slices.Contains(h.Scopes, sc) {
			why = append(why, "without scope "+sc)
		}
	}
	if h.Class != g.Class {
		why = append(why, "in class "+h.Class+", not "+g.Class)
	}
	return why
}

// headApprovalLooser says how route h requires less of an approval than
// route g, whose requests it matches, requires, its own or its class's
// (classes, by name): none, or one of more uses or a longer max_age; ""
// when not. A grant for the HEAD route runs the GET handler as often as
// it admits: a route of one class that overrode the class's approval
// with {required: false}, or max_uses: 1000, ran it without a second
// person, or a thousand times on one. CheckPush refuses it; Load does
// not (see CheckPush).
func headApprovalLooser(h, g RouteSpec, classes map[string]*ClassSpec) string {
	if g.Public {
		return ""
	}
	ga, ha := specApproval(g, classes), specApproval(h, classes)
	switch {
	case ga == nil:
	case ha == nil:
		return "without the approval it requires"
	case ha.MaxUses > ga.MaxUses || ha.MaxAge > ga.MaxAge:
		return fmt.Sprintf("with an approval of %d use(s) within %s, more than its %d within %s", ha.MaxUses, ha.MaxAge, ga.MaxUses, ga.MaxAge)
	}
	return ""
}

// specApproval is the approval route r requires, its own else its
// class's (classes, by name); nil for none, or for one that does not
// parse (reported where it is written).
func specApproval(r RouteSpec, classes map[string]*ClassSpec) *Approval {
	spec := r.Approval
	if spec == nil && classes[r.Class] != nil {
		spec = classes[r.Class].Approval
	}
	a, _ := ParseApproval(spec)
	return a
}

// splitTemplate checks a route template and returns its segments.
func splitTemplate(p string) ([]string, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("path must start with /")
	}
	if p == "/" {
		return []string{}, nil
	}
	segs := strings.Split(p[1:], "/")
	names := map[string]bool{}
	for _, s := range segs {
		switch {
		case paramPattern.MatchString(s):
			if names[s] && s == TenantParam {
				return nil, fmt.Errorf("%s twice: a route binds at most one segment to the caller's tenant", TenantParam)
			}
			if names[s] {
				return nil, fmt.Errorf("parameter %s used twice", s)
			}
			names[s] = true
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && tenantLikeParam(s):
			// {tenantId}, {Tenant}: no parameter at all (names are lower
			// case), and one meant to bind the tenant.
			return nil, fmt.Errorf("segment %q: a parameter's name is lower-case letters, digits and '_', and only %s binds its segment to the caller's tenant: name it %s", s, TenantParam, TenantParam)
		case s == "" || s == "." || s == "..":
			return nil, fmt.Errorf("empty, . or .. segment")
		case !segPattern.MatchString(s):
			return nil, fmt.Errorf("segment %q has characters that need percent-encoding", s)
		}
	}
	return segs, nil
}

// overlap reports whether two templates match a common path, their
// literals compared ignoring case: Match is case-sensitive, but Express
// and ASP.NET Core route without case by default, so with /v1/admin/settings
// and /v1/ADMIN/settings (or /v1/Reports/{id}) in one policy a request
// could be checked against one route and served by the other's handler.
func overlap(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) && !isParam(a[i]) && !isParam(b[i]) {
			return false
		}
	}
	return true
}

// overlapExact is overlap with literals compared as they are.
func overlapExact(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] && !isParam(a[i]) && !isParam(b[i]) {
			return false
		}
	}
	return true
}

func isParam(seg string) bool { return strings.HasPrefix(seg, "{") }

// TenantParam is the parameter segment of a route template that binds
// the request's segment there to the caller's tenant id.
const TenantParam = "{tenant}"

// tenantLikeParam reports whether the parameter segment seg ({...})
// reads as naming the caller's tenant without being TenantParam: its
// name, in lower case and without '_' and '-', is "tenant" or begins with
// it ({tenant_id}, {tenantId}, {tenant_slug}), or is an organisation or
// workspace ({org}, {org_id}, {organization}, {workspace_id}). Such a
// parameter binds nothing, and a reader of the policy takes it for bound
// (CheckPush refuses it). {account} and {customer} are not among them:
// in many services they are a tenant's resources, not the tenant.
func tenantLikeParam(seg string) bool {
	if seg == TenantParam || len(seg) < 2 {
		return false
	}
	name := strings.Map(func(r rune) rune {
		if r == '_' || r == '-' {
			return -1
		}
		return unicode.ToLower(r)
	}, seg[1:len(seg)-1])
	if strings.HasPrefix(name, "tenant") {
		return true
	}
	for _, base := range []string{"org", "organization", "organisation", "workspace"} {
		if rest, ok := strings.CutPrefix(name, base); ok && (rest == "" || rest == "id" || rest == "name" || rest == "slug" || rest == "key" || rest == "uuid") {
			return true
		}
	}
	return false
}

// tenantSegment returns the position, from 1, of the {tenant} segment of
// route r, whose template splitTemplate split into segs, else 0. A public
// route has no caller to bind it to: its {tenant} is an error, not a
// parameter that matches any tenant, which a reader of the policy would
// take for a bound one.
func tenantSegment(r RouteSpec, segs []string) (int, error) {
	i := slices.Index(segs, TenantParam)
	if i < 0 {
		return 0, nil
	}
	if r.Public {
		return 0, fmt.Errorf("route %s %s: a public route cannot have %s: it carries no credential whose tenant the segment could be bound to (name the parameter otherwise, or drop public)", r.Method, r.Path, TenantParam)
	}
	return i + 1, nil
}
