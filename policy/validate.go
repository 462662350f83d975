package policy

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"
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
