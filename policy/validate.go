package policy

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
)

// MaxScopes is how many scopes a policy may define: scope sets are uint64
// bitmasks on the hot path.
const MaxScopes = 64

// MaxRoutes is how many routes a policy may define. Load compares every
// route with every other of its method (overlapping), which is quadratic:
// 18,000 routes (1.4 MiB, a value etcd takes at the policy key) held each
// sidecar's policy sync, revocations included, for 15 s, and 30,000 for
// most of a minute (TestTooManyRoutesRefused); 4,096 take well under a
// second, four times the largest policy the benchmarks compile.
const MaxRoutes = 4096

var (
	idPattern    = regexp.MustCompile(TenantIDRule)
	scopePattern = regexp.MustCompile(`^[a-z][a-z0-9_.-]*(:[a-z0-9_.-]+)*$`)
	keyIDPattern = regexp.MustCompile(`^[a-z0-9]{8,32}$`)
	segPattern   = regexp.MustCompile(`^[A-Za-z0-9._~!$&'()*+,=:@-]+$`)
	paramPattern = regexp.MustCompile(`^\{[a-z_][a-z0-9_]*\}$`)
)

// TenantIDRule is the rule every tenant id (and client id, class name)
// follows, as CheckTenantID's errors state it.
const TenantIDRule = `^[a-z0-9][a-z0-9._-]{0,62}$`

// ValidTenantID reports whether id can be a policy tenant's id: lower-case
// ASCII letters and digits, '.', '_' and '-', starting with a letter or a
// digit, at most 63 bytes. Every file outside the policy that names
// tenants (the collector's --token-file and --cert-tenants) checks its
// names with it, so it cannot name a tenant no policy can hold.
func ValidTenantID(id string) bool { return idPattern.MatchString(id) }

// privilegedKind reports whether a class kind is privileged: bulk export and
// administration carry privileged scopes and their stronger requirements.
func privilegedKind(kind string) bool { return kind == "privileged" || kind == "bulk" }

// Kinds of endpoint class.
var classKinds = map[string]bool{"auth": true, "standard": true, "bulk": true, "privileged": true}

// Methods a route may name.
var routeMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true,
}

// Token signing algorithms an issuer may allow (RFC 8725: never "none").
var jwtAlgorithms = map[string]bool{"RS256": true, "PS256": true, "ES256": true, "EdDSA": true, "HS256": true}

type validator struct {
	lines    lines
	problems []Problem
}

func (v *validator) addf(line int, format string, args ...any) {
	v.problems = append(v.problems, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) document(d *Document) {
	if d.Version != 1 {
		v.addf(v.lines.section("version", 1), "version must be 1, got %d", d.Version)
	}
	tenants := v.tenants(d.Tenants)
	scopes := v.scopes(d.Scopes)
	classes := v.classes(d.Classes)
	v.routes(d.Routes, scopes, classes)
	clients := v.clients(d.Clients, tenants, scopes)
	v.keys(d.Keys, clients)
	v.issuers(d.Issuers, tenants)
	if d.UpstreamHost != "" && !validUpstreamHost(d.UpstreamHost) {
		v.addf(v.lines.section("upstream_host", 1), "upstream_host %q must be host or host:port of letters, digits, '.', '-' and ':'", redactUserinfo(d.UpstreamHost))
	}
	v.tenantHeaders(d.TenantHeaders, d.RefuseHeaders) // tenantheaders.go
	v.refuseCookies(d.RefuseCookies)                  // refusecookies.go
	v.tenantNames("tenant_params", d.TenantParams)    // tenantnames.go
	v.tenantNames("tenant_cookies", d.TenantCookies)
	for i, c := range d.TrustedProxies {
		if _, err := parsePrefix(c); err != nil {
			v.addf(v.lines.at("trusted_proxies", i, "", -1), "trusted proxy: %v", err)
		}
	}
	v.audit(d.Audit)
	v.staleness(d.Staleness)
	v.publicRoutes(d.PublicRoutes)
	v.globalLimits(d.GlobalLimits)
	v.detection(d.Detection, v.tickets(d.Tickets))
	v.lifecycle(d.Lifecycle, d.Keys) // lifecycle.go
	v.checkRotationRules(d.Lifecycle, d.Detection)
}

// unique reports a duplicate id and records the first line of each.
func (v *validator) unique(seen map[string]int, kind, id string, line int) {
	if first, dup := seen[id]; dup {
		v.addf(line, "duplicate %s %q (first defined at line %d)", kind, id, first)
		return
	}
	seen[id] = line
}

func (v *validator) limit(l *LimitSpec, line int, what string) {
	if l == nil {
		return
	}
	if _, err := ParseRate(*l); err != nil {
		v.addf(line, "%s: %v", what, err)
	}
	if l.Scope != "" {
		v.addf(line, "%s: scope applies only to clients[].limit (tenant and class limits are global in etcd mode)", what)
	}
}

// clientLimit checks a client's limit, whose scope may be local (the
// default) or global (issue 17).
func (v *validator) clientLimit(l *LimitSpec, line int, what string) {
	if l == nil {
		return
	}
	if l.Scope != "" && l.Scope != "local" && l.Scope != "global" {
		v.addf(line, "%s: scope %q must be local or global", what, l.Scope)
	}
	scoped := *l
	scoped.Scope = ""
	v.limit(&scoped, line, what)
}

func (v *validator) tenants(ts []TenantSpec) map[string]int {
	seen := map[string]int{}
	for i, t := range ts {
		line := v.lines.at("tenants", i, "", -1)
		if !ValidTenantID(t.ID) {
			v.addf(line, "tenant id %q must match %s", t.ID, TenantIDRule)
		}
		v.unique(seen, "tenant", t.ID, line)
		v.limit(t.Limit, v.lines.at("tenants", i, "limit", -1), fmt.Sprintf("tenant %q limit", t.ID))
	}
	return seen
}

// dotPrefixTenant returns a tenant id of seen that id begins with,
// followed by '.'. The binding of {tenant} compares the path's segment
// with the caller's id byte for byte, and services cut a segment at a
// '.': Rails routes /v1/tenants/acme.eu to /v1/tenants/:tenant(.:format)
// with tenant "acme" (a dynamic segment stops at '.'), Spring MVC's suffix
// pattern match (its default before 5.3) at the last '.', IIS drops a
// trailing one.
func dotPrefixTenant(id string, seen map[string]int) (string, bool) {
	for i := 0; i < len(id); i++ {
		if id[i] != '.' {
			continue
		}
		if _, ok := seen[id[:i]]; ok {
			return id[:i], true
		}
	}
	return "", false
}

func (v *validator) scopes(ss []ScopeSpec) map[string]bool {
	seen := map[string]int{}
	privileged := map[string]bool{}
	for i, s := range ss {
		line := v.lines.at("scopes", i, "", -1)
		if !scopePattern.MatchString(s.Name) {
			v.addf(line, "scope name %q must look like verb:noun (%s)", s.Name, scopePattern)
		}
		if strings.TrimSpace(s.Description) == "" {
			v.addf(line, "scope %q needs a description (it goes into the evidence scope matrix)", s.Name)
		}
		v.unique(seen, "scope", s.Name, line)
		privileged[s.Name] = s.Privileged
	}
	if len(ss) > MaxScopes {
		v.addf(v.lines.section("scopes", 0), "%d scopes defined, at most %d allowed", len(ss), MaxScopes)
	}
	return privileged
}

func (v *validator) classes(cs []ClassSpec) map[string]*ClassSpec {
	seen := map[string]int{}
	byName := map[string]*ClassSpec{}
	for i := range cs {
		c := &cs[i]
		line := v.lines.at("classes", i, "", -1)
		if !idPattern.MatchString(c.Name) {
			v.addf(line, "class name %q must match %s", c.Name, idPattern)
		}
		v.unique(seen, "class", c.Name, line)
		byName[c.Name] = c
		v.class(c, i)
	}
	return byName
}

func (v *validator) class(c *ClassSpec, i int) {
	at := func(field string) int { return v.lines.at("classes", i, field, -1) }
	if !classKinds[c.Kind] {
		v.addf(at("kind"), "class %q: kind %q must be one of auth, standard, bulk, privileged", c.Name, c.Kind)
	}
	if c.MaxBody == "" {
		v.addf(at(""), "class %q: max_body is required", c.Name)
	} else if _, err := ParseSize(c.MaxBody); err != nil {
		v.addf(at("max_body"), "class %q: %v", c.Name, err)
	}
	if c.MaxResponseBody != "" {
		if _, err := ParseSize(c.MaxResponseBody); err != nil {
			v.addf(at("max_response_body"), "class %q: max_response_body: %v", c.Name, err)
		}
	}
	v.limit(c.Limit, at("limit"), fmt.Sprintf("class %q limit", c.Name))
	if cc := c.Concurrency; cc != nil {
		if cc.Max < 1 || cc.Max > MaxConcurrency || cc.Queue < 0 || cc.Queue > MaxConcurrency {
			v.addf(at("concurrency"), "class %q: concurrency max must be from 1 to %d and queue from 0 to %d", c.Name, MaxConcurrency, MaxConcurrency)
		}
		if d, err := parseDuration(cc.MaxWait); err != nil {
			v.addf(at("concurrency"), "class %q: max_wait: %v", c.Name, err)
		} else if d > MaxQueueWait {
			v.addf(at("concurrency"), "class %q: max_wait %s is longer than %s: a queued request holds its client connection and a place in the queue while it waits", c.Name, cc.MaxWait, MaxQueueWait)
		}
	}
	for j, s := range c.AllowCIDRs {
		if _, err := parsePrefix(s); err != nil {
			v.addf(v.lines.at("classes", i, "allow_cidrs", j), "class %q: %v", c.Name, err)
		}
	}
	for j, m := range c.AuthMethods {
		if _, ok := authMethodBits[m]; !ok {
			v.addf(v.lines.at("classes", i, "auth_methods", j), "class %q: auth method %q must be api_key, jwt or mtls", c.Name, m)
		}
	}
	if _, err := parseDuration(c.MaxTokenAge); err != nil {
		v.addf(at("max_token_age"), "class %q: max_token_age: %v", c.Name, err)
	}
	if !privilegedKind(c.Kind) && (len(c.AllowCIDRs) > 0 || c.MaxTokenAge != "" || len(c.AuthMethods) > 0) {
		v.addf(at("kind"), "class %q: allow_cidrs, auth_methods and max_token_age need kind privileged or bulk", c.Name)
	}
	v.approval(c.Approval, "classes", i, "class "+c.Name)
}

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
		if !ok {
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

func (v *validator) clients(cs []ClientSpec, tenants map[string]int, scopes map[string]bool) map[string]bool {
	seen, mtlsSeen := map[string]int{}, map[string]string{}
	for i, c := range cs {
		line := v.lines.at("clients", i, "", -1)
		if !idPattern.MatchString(c.ID) {
			v.addf(line, "client id %q must match %s", c.ID, idPattern)
		}
		v.unique(seen, "client", c.ID, line)
		if _, ok := tenants[c.Tenant]; !ok {
			v.addf(v.lines.at("clients", i, "tenant", -1), "client %q: unknown tenant %q", c.ID, c.Tenant)
		}
		for j, s := range c.Scopes {
			if _, ok := scopes[s]; !ok {
				v.addf(v.lines.at("clients", i, "scopes", j), "client %q: unknown scope %q", c.ID, s)
			}
		}
		v.clientLimit(c.Limit, v.lines.at("clients", i, "limit", -1), fmt.Sprintf("client %q limit", c.ID))
		v.mtlsIdentities(c, i, mtlsSeen)
	}
	known := make(map[string]bool, len(seen))
	for id := range seen {
		known[id] = true
	}
	return known
}

// mtlsIdentities checks the certificate identities of client c (the i-th):
// each is an absolute URI (a URI SAN, such as a SPIFFE ID) or
// "subject:" and a distinguished name, and names one client only.
func (v *validator) mtlsIdentities(c ClientSpec, i int, seen map[string]string) {
	for j, id := range c.MTLSIdentities {
		line := v.lines.at("clients", i, "mtls_identities", j)
		if err := checkMTLSIdentity(id); err != nil {
			v.addf(line, "client %q: mtls identity %q: %v", c.ID, id, err)
		}
		if prev, ok := seen[id]; ok {
			v.addf(line, "client %q: mtls identity %q already names client %q", c.ID, id, prev)
			continue
		}
		seen[id] = c.ID
	}
}

// checkMTLSIdentity reports what is wrong with a certificate identity.
func checkMTLSIdentity(id string) error {
	if dn, ok := strings.CutPrefix(id, "subject:"); ok {
		if !strings.Contains(dn, "=") {
			return errors.New(`a subject must be a distinguished name, e.g. "subject:CN=exporter,O=Acme"`)
		}
		return nil
	}
	u, err := url.Parse(id)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		return errors.New(`must be a URI SAN (e.g. "spiffe://cluster.local/ns/billing/sa/exporter") or "subject:" and a distinguished name`)
	}
	return nil
}

func (v *validator) keys(ks []KeySpec, clients map[string]bool) {
	seen := map[string]int{}
	for i, k := range ks {
		v.unique(seen, "key", k.ID, v.lines.at("keys", i, "", -1))
		if field, err := k.checkField(clients); err != nil {
			v.addf(v.lines.at("keys", i, field, -1), "%v", err)
		}
	}
}

// check validates one key record against the known clients.
func (k *KeySpec) check(clients map[string]bool) error {
	_, err := k.checkField(clients)
	return err
}

// checkField is check that also names the field at fault, for its line.
func (k *KeySpec) checkField(clients map[string]bool) (field string, err error) {
	if !keyIDPattern.MatchString(k.ID) {
		return "id", fmt.Errorf("key id %q must be 8-32 characters [a-z0-9]", k.ID)
	}
	if !clients[k.Client] {
		return "client", fmt.Errorf("key %q: unknown client %q", k.ID, k.Client)
	}
	if b, err := hex.DecodeString(k.SHA256); err != nil || len(b) != 32 {
		return "sha256", fmt.Errorf("key %q: sha256 must be 64 hex digits", k.ID)
	}
	nb, err := parseTime(k.NotBefore)
	if err != nil {
		return "not_before", fmt.Errorf("key %q: not_before: %w", k.ID, err)
	}
	na, err := parseTime(k.NotAfter)
	if err != nil {
		return "not_after", fmt.Errorf("key %q: not_after: %w", k.ID, err)
	}
	if _, err := parseTime(k.CreatedAt); err != nil {
		return "created_at", fmt.Errorf("key %q: created_at: %w", k.ID, err)
	}
	if !na.IsZero() && !nb.IsZero() && !na.After(nb) {
		return "not_after", fmt.Errorf("key %q: not_after %s is not after not_before %s", k.ID, k.NotAfter, k.NotBefore)
	}
	return "", nil
}

func (v *validator) issuers(is []IssuerSpec, tenants map[string]int) {
	seen, urls := map[string]int{}, map[string]int{}
	for i := range is {
		v.unique(seen, "issuer", is[i].ID, v.lines.at("issuers", i, "", -1))
		v.issuerURL(urls, is[i], i)
		for _, p := range is[i].check(tenants) {
			v.addf(v.lines.at("issuers", i, p.field, p.elem), "issuer %q: %v", is[i].ID, p.err)
		}
	}
}

// issuerURL refuses issuer i when an issuer before it has its issuer url:
// a token names its issuer by that url alone ("iss"), so two issuers of
// one url cannot be told apart, and the data plane's verifier, which
// looks issuers up by it, was refused whole: every token of every issuer
// got 401 while /readyz said the issuers were fine
// (TestDuplicateIssuerURLRefused).
func (v *validator) issuerURL(urls map[string]int, is IssuerSpec, i int) {
	line := v.lines.at("issuers", i, "issuer", -1)
	if is.Issuer == "" {
		return // refused as no https url
	}
	if first, dup := urls[is.Issuer]; dup {
		v.addf(line, "issuer %q: issuer %q is already the url of the issuer at line %d: a token names its issuer by url, so one url is one issuer", is.ID, redactUserinfo(is.Issuer), first)
		return
	}
	urls[is.Issuer] = line
}

// validUpstreamHost reports whether h is a host[:port] of the bytes the
// data plane forwards in Host.
func validUpstreamHost(h string) bool {
	for _, c := range []byte(h) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':') {
			return false
		}
	}
	return h != ""
}

// issuerProblem is one problem of an issuer and the field (and list
// element, or -1) it is at.
type issuerProblem struct {
	field string
	elem  int
	err   error
}

// check validates one issuer against the document's tenants; it returns
// every problem.
func (s *IssuerSpec) check(tenants map[string]int) []issuerProblem {
	var ps []issuerProblem
	add := func(field string, elem int, format string, args ...any) {
		ps = append(ps, issuerProblem{field, elem, fmt.Errorf(format, args...)})
	}
	if !idPattern.MatchString(s.ID) {
		add("id", -1, "issuer id %q must match %s", s.ID, idPattern)
	}
	if !secureURL(s.Issuer) {
		add("issuer", -1, "issuer %q must be an https URL (http only on loopback)", redactUserinfo(s.Issuer))
	}
	if (s.JWKSURL != "" && s.JWKS != "") || (s.JWKSURL == "" && s.JWKS == "" && s.HMACSecret == "") {
		add("", -1, "set exactly one of jwks_url and jwks")
	}
	if s.JWKSURL != "" && !secureURL(s.JWKSURL) {
		add("jwks_url", -1, "jwks_url %q must be an https URL (http only on loopback)", redactUserinfo(s.JWKSURL))
	}
	if len(s.Tenants) == 0 {
		add("", -1, "tenants must list the tenants whose clients its tokens may speak for")
	}
	for j, t := range s.Tenants {
		if _, ok := tenants[t]; !ok {
			add("tenants", j, "unknown tenant %q", t)
		}
	}
	if len(s.Audiences) == 0 {
		add("", -1, "audiences must list at least one audience")
	}
	if len(s.Algorithms) == 0 {
		add("", -1, "algorithms must list at least one of RS256, PS256, ES256, EdDSA, HS256")
	}
	hs := false
	for j, a := range s.Algorithms {
		if !jwtAlgorithms[a] {
			add("algorithms", j, "algorithm %q is not allowed (RS256, PS256, ES256, EdDSA, HS256; never none)", a)
		}
		hs = hs || a == "HS256"
	}
	switch {
	case hs && s.HMACSecret == "":
		add("algorithms", -1, "HS256 needs hmac_secret, and hmac_secret needs HS256")
	case !hs && s.HMACSecret != "":
		add("hmac_secret", -1, "HS256 needs hmac_secret, and hmac_secret needs HS256")
	}
	if s.HMACSecret != "" && !secretRef(s.HMACSecret) {
		add("hmac_secret", -1, "hmac_secret must be a reference env:NAME or file:PATH, never the secret itself")
	}
	for _, f := range []struct{ name, value string }{{"clock_skew", s.ClockSkew}, {"max_lifetime", s.MaxLifetime}} {
		if _, err := parseDuration(f.value); err != nil {
			add(f.name, -1, "%s: %w", f.name, err)
		}
	}
	if life, err := parseDuration(s.MaxLifetime); err == nil && life == 0 && s.MaxLifetime != "" {
		// The data plane reads 0 as no bound (jwt.Config.MaxLifetime):
		// the tightest bound written would have been none at all.
		add("max_lifetime", -1, "max_lifetime %s admits no token: leave it out for no bound", s.MaxLifetime)
	}
	if skew, err := parseDuration(s.ClockSkew); err == nil && skew > MaxClockSkew {
		add("clock_skew", -1, "clock_skew %s is more than %s: tokens that long expired, or not valid yet, would be accepted", skew, MaxClockSkew)
	}
	return ps
}

// The claims an issuer's tokens name their tenant and client by when its
// tenant_claim and client_claim are unset (the data plane's defaults,
// jwt.DefaultTenantClaim and jwt.DefaultClientClaim).
const (
	defaultTenantClaim = "tenant"
	defaultClientClaim = "client_id"
)

// reservedClaims are the claims a tenant_claim or client_claim must not
// name: the registered claims (RFC 7519 section 4.1) the data plane reads
// as what they are, a number (exp, nbf, iat), the audience, the issuer or
// the token's own id, and the scopes. sub is not among them: it is the
// client's id in many providers' client-credentials tokens.
var reservedClaims = [...]string{"iss", "aud", "exp", "nbf", "iat", "jti", "scope", "scp"}

// claimProblems finds an empty audience, a tenant_claim or client_claim
// naming a reserved claim, and the two naming one claim: rules of
// CheckPush, which a push refuses and Load takes. Names are compared under Unicode
// case folding, as the data plane does: it refuses a token holding two
// names equal so ("EXP" beside the exp every token has), so such a claim
// could never be read. Before, the policy validated and every token of
// the issuer got 401 (TestIssuerClaimSettingsRefused).
func (s *IssuerSpec) claimProblems() []issuerProblem {
	var ps []issuerProblem
	for j, a := range s.Audiences {
		if a == "" {
			ps = append(ps, issuerProblem{"audiences", j, errors.New("audiences: an empty audience matches no token's aud, and the data plane leaves such an issuer out")})
		}
	}
	claims := []struct{ field, name, def string }{
		{"tenant_claim", s.TenantClaim, defaultTenantClaim},
		{"client_claim", s.ClientClaim, defaultClientClaim},
	}
	for _, c := range claims {
		for _, r := range reservedClaims {
			if strings.EqualFold(c.name, r) {
				ps = append(ps, issuerProblem{c.field, -1, fmt.Errorf("%s %q is the registered claim %q: name the claim holding the %s id", c.field, c.name, r, strings.TrimSuffix(c.field, "_claim"))})
			}
		}
	}
	t, c := claims[0], claims[1]
	tn, cn := cmp.Or(t.name, t.def), cmp.Or(c.name, c.def)
	if !strings.EqualFold(tn, cn) {
		return ps
	}
	deflt := func(name string) string {
		if name == "" {
			return " (the default)"
		}
		return ""
	}
	if c.name == "" {
		t, c, tn, cn = c, t, cn, tn // report it at the field that is set
	}
	return append(ps, issuerProblem{c.field, -1, fmt.Errorf("%s %q is the %s %q%s: one claim cannot name both the tenant and the client", c.field, cn, t.field, tn, deflt(t.name))})
}

// MaxClockSkew bounds an issuer's clock_skew: the leeway for exp, nbf and
// iat is meant for clocks a little apart (RFC 7519 §4.1.4: "usually no
// more than a few minutes"), and a larger one (5h typed for 5m) accepts
// expired tokens.
const MaxClockSkew = 5 * time.Minute

// SecureURL reports whether s is an https URL, or http on loopback: what
// a URL of the policy must be, and a ticket sink's url_file must hold.
func SecureURL(s string) bool { return secureURL(s) }

// secureURL reports whether s is an https URL, or http on loopback.
func secureURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Host != "" && (u.Scheme == "https" || loopbackHTTP(u))
}

// secretRef reports whether s is a secret reference env:NAME or file:PATH
// with a non-empty name or path.
func secretRef(s string) bool {
	for _, p := range []string{"env:", "file:"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest != ""
		}
	}
	return false
}

// redactUserinfo returns s, a URL or a host, with the password of a
// user:password@ before its host replaced by "xxxxx", as url.URL.Redacted
// does, and its query too (a provider or collector taking a token there:
// ?access_token=...; the fragment left out), also for a value that does
// not parse: a refused value goes into the error, and so the log line
// and, for a policy from etcd, /readyz.
func redactUserinfo(s string) string {
	pre, rest := "", s
	if i := strings.Index(s, "://"); i >= 0 {
		pre, rest = s[:i+3], s[i+3:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		tail := ""
		if rest[i] == '?' {
			tail = "?xxxxx"
		}
		rest = rest[:i] + tail
	}
	host := rest
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		host = rest[:i]
	}
	at := strings.LastIndexByte(host, '@')
	if at < 0 {
		return pre + rest
	}
	user, _, ok := strings.Cut(host[:at], ":")
	if !ok {
		return pre + rest
	}
	return pre + user + ":xxxxx" + rest[at:]
}

func loopbackHTTP(u *url.URL) bool {
	if u.Scheme != "http" {
		return false
	}
	h := u.Hostname()
	a, err := netip.ParseAddr(h)
	return h == "localhost" || (err == nil && a.IsLoopback())
}

func (v *validator) audit(a AuditSpec) {
	if a.Mode != "" && a.Mode != "best_effort" && a.Mode != "strict" {
		v.addf(v.lines.field("audit", "mode"), "audit mode %q must be best_effort or strict", a.Mode)
	}
	if a.Collector != "" {
		if u, err := url.Parse(a.Collector); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			v.addf(v.lines.field("audit", "collector"), "audit collector %q must be an http(s) URL", redactUserinfo(a.Collector))
		}
	}
}

func (v *validator) staleness(s StaleSpec) {
	if _, err := parseDuration(s.MaxAge); err != nil {
		v.addf(v.lines.field("staleness", "max_age"), "staleness: %v", err)
	}
	if s.Action != "" && s.Action != "deny" && s.Action != "serve" {
		v.addf(v.lines.field("staleness", "action"), "staleness action %q must be deny or serve", s.Action)
	}
}

// MaxPublicInFlight bounds public_routes.max_in_flight: far above any
// upstream connection pool, it only catches a value mistyped or
// overflowing.
const MaxPublicInFlight = 1 << 20

// MaxConcurrency bounds a class's concurrency max and queue per tenant,
// as MaxPublicInFlight bounds the public routes': more than a sidecar's
// connections can hold is a mistake.
const MaxConcurrency = 1 << 20

// MaxQueueWait bounds a class's concurrency max_wait: a queued request
// holds its client connection (and a goroutine) for as long, and
// nothing a client waits for minutes in a sidecar's queue is served
// better than by a 429 with Retry-After.
const MaxQueueWait = 5 * time.Minute

func (v *validator) publicRoutes(p *PublicSpec) {
	if p == nil {
		return
	}
	if p.MaxInFlight < 1 || p.MaxInFlight > MaxPublicInFlight {
		v.addf(v.lines.field("public_routes", "max_in_flight"), "public_routes: max_in_flight %d must be from 1 to %d (leave public_routes out for the default, a quarter of the sidecar's upstream connections)", p.MaxInFlight, MaxPublicInFlight)
	}
}

// DefaultGlobalMaxSidecars is global_limits.max_sidecars when the policy
// leaves it out; MaxGlobalSidecars bounds it.
const (
	DefaultGlobalMaxSidecars = 1000
	MaxGlobalSidecars        = 1000
)

func (v *validator) globalLimits(g *GlobalLimitsSpec) {
	if g == nil {
		return
	}
	if g.MaxSidecars < 1 || g.MaxSidecars > MaxGlobalSidecars {
		v.addf(v.lines.field("global_limits", "max_sidecars"), "global_limits: max_sidecars %d must be from 1 to %d, the most sidecars that share a global limit at once (leave global_limits out for the default, %d)", g.MaxSidecars, MaxGlobalSidecars, DefaultGlobalMaxSidecars)
	}
}

// parsePrefix parses a CIDR, or a single address as a /32 or /128.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p != p.Masked() {
			return netip.Prefix{}, fmt.Errorf("CIDR %q has host bits set (did you mean %s?)", s, p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("cannot parse CIDR %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
