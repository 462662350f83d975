package policy

import (
	"os"
	"strings"
	"testing"
)

// weakeningsOf loads the example policy with each of edits applied
// (old, new) to make cur, then next, and returns Weakenings(cur, next).
func weakeningsOf(t *testing.T, base func(string) string, change func(string) string) string {
	t.Helper()
	cur, next := loadPair(t, base, change)
	return strings.Join(Weakenings(cur, next), "; ")
}

func replace(old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			panic("BUG: " + old + " not in the example policy")
		}
		return strings.Replace(s, old, new, 1)
	}
}

func same(s string) string { return s }

// A {tenant} renamed {t} binds nothing: validation takes any parameter
// name, so an acme key then reaches /v1/tenants/globex/users. The staleness
// bound, the audit mode and the detection rules are controls of their own
// that one operator loosened alone. Before, each was a plain push
// (Weakenings listed nothing).
func TestWeakeningsTenantUnboundAndSettings(t *testing.T) {
	t.Parallel()
	staleBase := replace("audit:\n  mode: best_effort\n", "audit:\n  mode: strict\nstaleness: {max_age: 5m, action: deny}\n")
	for _, c := range []struct {
		name   string
		base   func(string) string
		change func(string) string
		want   string
	}{
		{"tenant renamed", same, replace(`"/v1/tenants/{tenant}/users"`, `"/v1/tenants/{t}/users"`),
			`route "GET /v1/tenants/{tenant}/users" binds segment 3 to the caller's tenant; route "GET /v1/tenants/{t}/users", which serves its requests, does not`},
		{"staleness longer", staleBase, replace("max_age: 5m, action: deny", "max_age: 1h, action: deny"), "staleness.max_age lengthened from 5m0s to 1h0m0s"},
		{"staleness removed", staleBase, replace("staleness: {max_age: 5m, action: deny}\n", ""), "staleness.max_age lengthened from 5m0s to none"},
		{"staleness serve", staleBase, replace("action: deny}", "action: serve}"), "staleness.action turned from deny to serve"},
		{"audit best effort", staleBase, replace("mode: strict", "mode: best_effort"), "audit.mode turned from strict to best_effort"},
		{"rule removed", same, replace("  - {name: tenant-probe, kind: tenant_probe, group_by: client, threshold: 5, window: 10m, severity: high, action: suspend, suspend: 15m}\n", ""),
			`detection rule "tenant-probe" removed`},
		{"rule loosened", same, replace("threshold: 5, window: 10m, severity: high, action: suspend, suspend: 15m", "threshold: 50, window: 10m, severity: low, action: notify"),
			`detection rule "tenant-probe" loosened: threshold raised from 5 to 50, severity lowered from high to low, action lowered from suspend to notify`},
	} {
		if got := weakeningsOf(t, c.base, c.change); !strings.Contains(got, c.want) {
			t.Errorf("%s: Weakenings = %q; want %q", c.name, got, c.want)
		}
	}
	// A tightening is no weakening.
	tighter := replace("threshold: 5, window: 10m, severity: high", "threshold: 3, window: 30m, severity: critical")
	if got := weakeningsOf(t, same, tighter); got != "" {
		t.Errorf("tightened rule: Weakenings = %q; want none", got)
	}
}

// A HEAD runs the GET handler of its path. Removing a privileged GET
// route weakens nothing (a route gone is refused), and a HEAD of its path
// added by a later push was compared with the policy in force only, which
// no longer had the GET: two plain pushes reached the handler without
// the scope. Before, the second push weakened nothing.
func TestWeakeningsHeadAfterItsGetWent(t *testing.T) {
	t.Parallel()
	const get = "  - {method: GET, path: /v1/admin/audit, class: privileged, scopes: [admin:settings]}\n"
	const head = "  - {method: HEAD, path: /v1/admin/audit, class: standard, scopes: [read:users]}\n"
	const privHead = "  - {method: HEAD, path: /v1/admin/audit, class: privileged, scopes: [admin:settings]}\n"
	const want = `route "HEAD /v1/admin/audit" is covered by no GET route`
	gone := same // the policy in force after the first push: no GET
	if got := weakeningsOf(t, gone, replace("routes:\n", "routes:\n"+head)); !strings.Contains(got, want) {
		t.Errorf("HEAD added without its GET: Weakenings = %q; want %q", got, want)
	}
	// A HEAD beside a GET covering it is held to that GET by validation.
	withGet := replace("routes:\n", "routes:\n"+get)
	if got := weakeningsOf(t, withGet, replace(get, get+privHead)); got != "" {
		t.Errorf("HEAD added beside its GET: Weakenings = %q; want none", got)
	}
	// A HEAD kept as it was, its GET gone, reaches nothing new; loosened, it does.
	both := replace("routes:\n", "routes:\n"+get+privHead)
	if got := weakeningsOf(t, both, replace(get, "")); strings.Contains(got, want) {
		t.Errorf("GET removed, HEAD kept: Weakenings = %q; want no %q", got, want)
	}
	alone := replace("routes:\n", "routes:\n"+privHead)
	if got := weakeningsOf(t, alone, replace(privHead, head)); !strings.Contains(got, want) {
		t.Errorf("lone HEAD loosened: Weakenings = %q; want %q", got, want)
	}
	// A first push (no policy in force) weakens nothing.
	raw, _ := os.ReadFile(examplePath)
	next, err := Load("next", []byte(strings.Replace(string(raw), "routes:\n", "routes:\n"+head, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := Weakenings(&Document{}, next); len(got) != 0 {
		t.Errorf("first push: Weakenings = %q; want none", got)
	}
}

// WeakeningKinds was an exported slice: any package could rewrite what
// the push's refusal, the pack and the docs test read. It is a copy now.
func TestWeakeningKindsImmutable(t *testing.T) {
	t.Parallel()
	k := WeakeningKinds()
	k[0].Description = "nothing"
	if WeakeningKinds()[0].Description == "nothing" {
		t.Error("WeakeningKinds()[0] changed by its caller")
	}
}

// The collector the sidecars send their records to, and the sink a
// detection rule's alerts go to, carry the trail and the alert as much
// as audit.mode and the rule do: pointed elsewhere by one operator, the
// records and the alerts reach a place of her choosing (strict mode
// serves on: that collector accepts). Before, both were plain pushes
// (Weakenings listed nothing).
func TestWeakeningsAuditTrailAndAlertsRedirected(t *testing.T) {
	t.Parallel()
	collected := replace("audit:\n  mode: best_effort\n", "audit:\n  mode: strict\n  collector: \"https://collector.internal:8443\"\n")
	ticketed := replace("{name: privileged-grant, kind: privileged_grant, severity: medium}", "{name: privileged-grant, kind: privileged_grant, severity: medium, ticket: secops}")
	for _, c := range []struct {
		name         string
		base, change func(string) string
		want         string
	}{
		{"collector changed", collected, replace(`collector: "https://collector.internal:8443"`, `collector: "https://elsewhere.example:8443"`),
			"audit.collector changed or removed: sidecars started after it send their records elsewhere, or drop them"},
		{"collector removed", collected, replace("  collector: \"https://collector.internal:8443\"\n", ""),
			"audit.collector changed or removed: sidecars started after it send their records elsewhere, or drop them"},
		{"sink moved", ticketed, replace(`url: "http://127.0.0.1:9099/alerts"`, `url: "https://sink.example/alerts"`),
			`detection rule "privileged-grant": ticket sink "secops" changed, its alerts go elsewhere`},
	} {
		if got := weakeningsOf(t, c.base, c.change); got != c.want {
			t.Errorf("%s: Weakenings = %q; want %q", c.name, got, c.want)
		}
	}
	// A sink no rule names, and a collector set where there was none,
	// weaken nothing.
	for _, c := range []struct {
		name         string
		base, change func(string) string
	}{
		{"unnamed sink moved", same, replace(`url: "http://127.0.0.1:9099/alerts"`, `url: "https://sink.example/alerts"`)},
		{"collector set", same, replace("audit:\n  mode: best_effort\n", "audit:\n  mode: best_effort\n  collector: \"https://collector.internal:8443\"\n")},
	} {
		if got := weakeningsOf(t, c.base, c.change); got != "" {
			t.Errorf("%s: Weakenings = %q; want none", c.name, got)
		}
	}
}
