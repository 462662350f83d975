package policy

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// Rules 3: a class of any kind bounding less, a route without a scope it
// required (privileged or not), public_routes raised, trusted_proxies
// widened while no privileged class has allow_cidrs, and an issuer given
// a tenant of no privileged client. Before, each was a plain push
// (Weakenings listed nothing).
func TestWeakeningsRules3(t *testing.T) {
	t.Parallel()
	noCIDRs := func(s string) string {
		s = replace("    allow_cidrs: [127.0.0.0/8, \"::1\"]\n", "")(s)
		return replace("    allow_cidrs: [10.0.0.0/8]\n", "")(s)
	}
	proxied := func(s string) string {
		return replace("audit:\n", "trusted_proxies: [10.1.0.0/16]\naudit:\n")(noCIDRs(s))
	}
	publicBound := replace("audit:\n", "public_routes: {max_in_flight: 8}\naudit:\n")
	oneTenant := replace("tenants: [acme, globex]", "tenants: [acme]")
	headerLists := replace("audit:\n", "tenant_headers: [X-Org-Id, X-Workspace-Id]\nrefuse_headers: [X-Auth-Token]\naudit:\n")
	tenantNames := replace("audit:\n", "tenant_params: [tenant_id, org]\ntenant_cookies: [org_id]\naudit:\n")
	for _, c := range []struct {
		name         string
		base, change func(string) string
		want         string
	}{
		{"standard limit", same, replace("limit: {rate: 100/s, burst: 200}", "limit: {rate: 1000/s, burst: 200}"),
			`class "standard" (standard) limit raised from 100/s burst 200 to 1000/s burst 200`},
		{"standard limit removed", same, replace("    max_body: 1MiB\n    limit: {rate: 100/s, burst: 200}\n", "    max_body: 1MiB\n"),
			`class "standard" (standard) limit raised from 100/s burst 200 to none`},
		{"standard max_body", same, replace("max_body: 1MiB", "max_body: 64MiB"),
			`class "standard" (standard) max_body raised from 1MiB to 64MiB`},
		{"bulk concurrency", same, replace("concurrency: {max: 2, queue: 2, max_wait: 2s}", "concurrency: {max: 20, queue: 2, max_wait: 2s}"),
			`class "bulk" (bulk) concurrency raised from max 2 queue 2 max_wait 2s to max 20 queue 2 max_wait 2s`},
		{"scope dropped", same, replace(`{method: GET, path: "/v1/reports/{id}", class: standard, scopes: [read:reports]}`, `{method: GET, path: "/v1/reports/{id}", class: standard, scopes: [read:users]}`),
			`route "GET /v1/reports/{id}" served by route "GET /v1/reports/{id}", which does not require its scope "read:reports"`},
		{"public_routes raised", publicBound, replace("max_in_flight: 8", "max_in_flight: 800"), "public_routes.max_in_flight raised from 8 to 800"},
		{"public_routes removed", publicBound, replace("public_routes: {max_in_flight: 8}\n", ""), "public_routes.max_in_flight raised from 8 to removed (the sidecar's default)"},
		{"proxies widened", proxied, replace("trusted_proxies: [10.1.0.0/16]", "trusted_proxies: [10.0.0.0/8]"),
			"trusted_proxies widened: 10.0.0.0/8 is inside none of [10.1.0.0/16]"},
		{"issuer tenant", oneTenant, replace("tenants: [acme]", "tenants: [acme, globex]"),
			`issuer "demo-idp" given tenant "globex": its tokens may name that tenant's clients`},
		{"tenant header dropped", headerLists, replace("tenant_headers: [X-Org-Id, X-Workspace-Id]", "tenant_headers: [x-workspace-id]"),
			`tenant_headers no longer names "X-Org-Id"`},
		{"refused header dropped", headerLists, replace("refuse_headers: [X-Auth-Token]\n", ""),
			`refuse_headers no longer names "X-Auth-Token"`},
		{"tenant param dropped", tenantNames, replace("tenant_params: [tenant_id, org]", "tenant_params: [ORG]"),
			`tenant_params no longer names "tenant_id"`},
		{"tenant cookie dropped", tenantNames, replace("tenant_cookies: [org_id]\n", ""),
			`tenant_cookies no longer names "org_id"`},
	} {
		if got := weakeningsOf(t, c.base, c.change); !strings.Contains(got, c.want) {
			t.Errorf("%s: Weakenings = %q; want %q", c.name, got, c.want)
		}
	}
	// Tightenings weaken nothing.
	for _, c := range []struct {
		name         string
		base, change func(string) string
	}{
		{"limit lowered", same, replace("limit: {rate: 100/s, burst: 200}", "limit: {rate: 6000/min, burst: 100}")},
		{"max_body lowered", same, replace("max_body: 1MiB", "max_body: 512KiB")},
		{"public_routes lowered", publicBound, replace("max_in_flight: 8", "max_in_flight: 4")},
		{"proxies narrowed", proxied, replace("trusted_proxies: [10.1.0.0/16]", "trusted_proxies: [10.1.2.0/24]")},
		{"issuer tenant dropped", same, replace("tenants: [acme, globex]", "tenants: [acme]")},
		// A tenant header refused outright lets less through (read96).
		{"tenant header moved to refuse_headers", headerLists, replace("tenant_headers: [X-Org-Id, X-Workspace-Id]\nrefuse_headers: [X-Auth-Token]", "tenant_headers: [X-Workspace-Id]\nrefuse_headers: [X-Auth-Token, x-org-id]")},
		{"tenant names grown or respelt", tenantNames, replace("tenant_params: [tenant_id, org]\ntenant_cookies: [org_id]", "tenant_params: [Tenant_Id, org, tenantId]\ntenant_cookies: [ORG_ID, org]")},
		{"header lists grown or respelt", headerLists, replace("tenant_headers: [X-Org-Id, X-Workspace-Id]\nrefuse_headers: [X-Auth-Token]", "tenant_headers: [x-org-id, X-Workspace-Id, X-Account-Id]\nrefuse_headers: [x-auth-token, X-Access-Token]")},
	} {
		if got := weakeningsOf(t, c.base, c.change); got != "" {
			t.Errorf("%s: Weakenings = %q; want none", c.name, got)
		}
	}
}

// An older release's CLI checked rules 2: the pack judges its pushes so.
func TestWeakeningsUnderRules2LeavesRules3Out(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := Load("cur", raw)
	if err != nil {
		t.Fatal(err)
	}
	next, err := Load("next", []byte(strings.Replace(string(raw), "max_body: 1MiB", "max_body: 64MiB", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := WeakeningsUnder(cur, next, 2); len(got) != 0 {
		t.Errorf("WeakeningsUnder(rules 2) = %q; want none", got)
	}
	if got := Weakenings(cur, next); len(got) == 0 {
		t.Error("Weakenings = none; want max_body raised")
	}
}

// The two-push trick: a privileged GET removed by one push (a route gone
// weakens nothing: its requests are refused) and put back by the next in
// the standard class without its scope. Compared with the policy in
// force alone, neither push weakened anything.
func TestWeakeningsRouteRemovedThenReadded(t *testing.T) {
	t.Parallel()
	const get = "  - {method: GET, path: /v1/admin/audit, class: privileged, scopes: [admin:settings]}\n"
	const weak = "  - {method: GET, path: /v1/admin/audit, class: standard, scopes: [read:users]}\n"
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	load := func(s string) *Document {
		t.Helper()
		d, err := Load("p", []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	with := func(r string) *Document { return load(strings.Replace(string(raw), "routes:\n", "routes:\n"+r, 1)) }
	first, gone := with(get), load(string(raw))
	history := slices.Values([]*Document{gone, first}) // newest first
	if got := Weakenings(first, gone); len(got) != 0 {
		t.Fatalf("GET removed: Weakenings = %q; want none", got)
	}
	got := strings.Join(append(Weakenings(gone, with(weak)), FormerRouteWeakenings(gone, with(weak), history)...), "; ")
	const want = `route "GET /v1/admin/audit" serves the requests of route "GET /v1/admin/audit", removed by an earlier push, with less checked than it had the last time it existed: without scope admin:settings, in class "standard" (standard), not "privileged" (privileged)`
	if !strings.Contains(got, want) {
		t.Errorf("GET put back with less: weakenings %q; want %q", got, want)
	}
	// Put back as it was, it weakens nothing; nor does a route new to
	// every document.
	if got := FormerRouteWeakenings(gone, with(get), history); len(got) != 0 {
		t.Errorf("GET put back as it was: %q; want none", got)
	}
	const fresh = "  - {method: GET, path: /v1/fresh, class: standard, scopes: [read:users]}\n"
	if got := FormerRouteWeakenings(gone, with(fresh), history); len(got) != 0 {
		t.Errorf("a new route: %q; want none", got)
	}
	// The last time it existed counts: put back tighter once, then loose.
	tight := with(get)
	if got := FormerRouteWeakenings(gone, with(weak), slices.Values([]*Document{gone, tight, with(weak)})); len(got) == 0 {
		t.Error("put back looser than the newest document that had it: none; want a weakening")
	}
}

// TestWeakeningsRouteRemovedThenCoveredByAWiderOne (read95): a route
// removed by one push was compared with history only when a route of the
// next push served no request of the policy in force. A push widening a
// route still in force to a template that also serves the removed
// route's requests (GET /v1/users/{id} and /v1/reports/{id} made one
// GET /v1/{section}/{id}, their scopes kept) served GET /v1/admin/audit,
// privileged and scoped admin:settings when it last existed, in class
// standard with read:users and read:reports, with no weakening named.
func TestWeakeningsRouteRemovedThenCoveredByAWiderOne(t *testing.T) {
	t.Parallel()
	const audit = "  - {method: GET, path: /v1/admin/audit, class: privileged, scopes: [admin:settings]}\n"
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	load := func(s string) *Document {
		t.Helper()
		d, err := Load("p", []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	first, gone := load(strings.Replace(string(raw), "routes:\n", "routes:\n"+audit, 1)), load(string(raw))
	history := slices.Values([]*Document{gone, first}) // newest first
	wide := string(raw)
	for _, r := range []string{
		`  - {method: GET, path: "/v1/users/{id}", class: standard, scopes: [read:users]}` + "\n",
		`  - {method: GET, path: "/v1/reports/{id}", class: standard, scopes: [read:reports]}` + "\n",
	} {
		if !strings.Contains(wide, r) {
			t.Fatalf("the example policy no longer has %q", r)
		}
		wide = strings.Replace(wide, r, "", 1)
	}
	next := load(strings.Replace(wide, "routes:\n", `routes:
  - {method: GET, path: "/v1/{section}/{id}", class: standard, scopes: [read:users, read:reports]}
`, 1))
	got := strings.Join(append(Weakenings(gone, next), FormerRouteWeakenings(gone, next, history)...), "; ")
	const want = `route "GET /v1/{section}/{id}" serves the requests of route "GET /v1/admin/audit", removed by an earlier push, with less checked than it had the last time it existed`
	if !strings.Contains(got, want) {
		t.Errorf("a removed route's requests served by a widened route: weakenings %q; want %q", got, want)
	}
	// The routes reordered, a literal respelt in another case: history
	// is not read.
	reorder := strings.Replace(string(raw), "path: /v1/users, ", "path: /v1/Users, ", 1)
	reorder = strings.Replace(reorder, `  - {method: GET, path: "/v1/reports/{id}", class: standard, scopes: [read:reports]}`+"\n", "", 1)
	reordered := load(strings.Replace(reorder, "routes:\n", "routes:\n"+
		`  - {method: GET, path: "/v1/reports/{report}", class: standard, scopes: [read:reports]}`+"\n", 1))
	if got := FormerRouteWeakenings(gone, reordered, func(func(*Document) bool) { t.Error("history read for a push changing no template") }); len(got) != 0 {
		t.Errorf("routes reordered and respelt: %q; want none", got)
	}
	// Widened over routes of the policy in force only, it weakens
	// nothing by this rule.
	if got := FormerRouteWeakenings(gone, next, slices.Values([]*Document{gone})); len(got) != 0 {
		t.Errorf("widened with no route removed before: %q; want none", got)
	}
}
