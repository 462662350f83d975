package policy

import (
	"strings"
	"testing"
)

// TestWeakeningsRouteMovedToALooserClass: an operator alone wants POST
// /v1/records unbounded. Raising class standard's max_body or removing its
// limit is a weakening, so the push instead adds a class "open" (a new
// class weakens nothing) with a body cap of 1 GiB and no limit, and moves
// the route to it. The route is bounded less than before, as by the raise.
// Before, Weakenings listed nothing (attack815); the same for a privileged
// route moved to a privileged class of the same checks without a limit.
func TestWeakeningsRouteMovedToALooserClass(t *testing.T) {
	t.Parallel()
	addOpen := replace("\nroutes:\n", "  - {name: open, kind: standard, max_body: 1GiB}\n  - name: admin2\n    kind: privileged\n    max_body: 1GiB\n    allow_cidrs: [127.0.0.0/8, \"::1\"]\n    auth_methods: [api_key, jwt, mtls]\n\nroutes:\n")
	for _, c := range []struct {
		name, want string
		move       func(string) string
	}{
		{"standard route to an unlimited class", `route "POST /v1/records" of class "standard"`,
			replace("path: /v1/records, class: standard", "path: /v1/records, class: open")},
		{"privileged route to a privileged class without a limit", `route "PUT /v1/admin/settings" of class "privileged"`,
			replace("path: /v1/admin/settings, class: privileged", "path: /v1/admin/settings, class: admin2")},
	} {
		got := weakeningsOf(t, same, func(s string) string { return c.move(addOpen(s)) })
		if !strings.Contains(got, c.want) || !strings.Contains(got, "max_body raised") || !strings.Contains(got, "limit raised") {
			t.Errorf("%s: Weakenings = %q; want %s moved, its max_body and limit raised", c.name, got, c.want)
		}
	}
	// A route moved to a class that bounds it no less is no weakening.
	tighter := replace("\nroutes:\n", "  - {name: tight, kind: standard, max_body: 1KiB, limit: {rate: 1/s, burst: 1}}\n\nroutes:\n")
	if got := weakeningsOf(t, same, func(s string) string {
		return replace("path: /v1/records, class: standard", "path: /v1/records, class: tight")(tighter(s))
	}); got != "" {
		t.Errorf("route moved to a tighter class: Weakenings = %q; want none", got)
	}
}

// TestWeakeningsIssuerSignerReplaced: adding an issuer for acme needs an
// approval (issuers' tenants), so one operator keeps demo-idp's id and
// tenants and replaces its jwks with a key of their own. With
// privileged_key_approval off that was a plain push: tokens the operator
// signs offline name any client of acme or globex, no key made and no
// trail of one (attack815).
func TestWeakeningsIssuerSignerReplaced(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		change func(string) string
	}{
		{"jwks replaced", replace(`"x":"lgXeSIRAyXwmOjbRiQGZ7YVoYx8XviIq9Kl4GWEV5x0"`, `"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"`)},
		{"issuer URL replaced", replace("issuer: https://idp.demo.example", "issuer: https://idp.evil.example")},
		{"client claim changed", replace("client_claim: client_id", "client_claim: azp")},
	} {
		if got := weakeningsOf(t, same, c.change); !strings.Contains(got, `issuer "demo-idp"`) {
			t.Errorf("%s: Weakenings = %q; want issuer demo-idp named", c.name, got)
		}
	}
	// Removing a tenant or an audience takes trust away: no weakening.
	if got := weakeningsOf(t, same, replace("tenants: [acme, globex]\n    jwks", "tenants: [acme]\n    jwks")); got != "" {
		t.Errorf("issuer given fewer tenants: Weakenings = %q; want none", got)
	}
}

// TestWeakeningsPublicRoutesSetOverTheDefault: raising public_routes'
// max_in_flight needs an approval, but the example leaves public_routes
// out (the sidecar's default, a quarter of its upstream connections);
// before, setting max_in_flight: 1048576 there was a plain push
// (attack815).
func TestWeakeningsPublicRoutesSetOverTheDefault(t *testing.T) {
	t.Parallel()
	got := weakeningsOf(t, same, replace("\nroutes:\n", "\npublic_routes: {max_in_flight: 1048576}\n\nroutes:\n"))
	if !strings.Contains(got, "public_routes set: max_in_flight 1048576") {
		t.Errorf("Weakenings = %q; want public_routes set named", got)
	}
}

// TestWeakeningsIssuerAcceptsMore: an issuer kept by id that accepts more
// of its own tokens than before was a plain push (attack815 left it): an
// audience added (tokens minted for another service now pass here), a
// token type accepted that was not (and, from none to some, ID tokens,
// whose claims an issuer without types refuses), a longer clock_skew
// (expired tokens pass longer) or max_lifetime (or its bound removed).
// Each is a weakening of rules 6 now; the reverse of each is none.
func TestWeakeningsIssuerAcceptsMore(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, want string
		change     func(string) string
	}{
		{"audience added", `audience "billing" added`, replace("audiences: [portcullis-demo]", "audiences: [portcullis-demo, billing]")},
		{"types set over the default", `types [at+jwt id_token] set`, replace("    clock_skew: 30s\n", "    clock_skew: 30s\n    types: [at+jwt, id_token]\n")},
		{"clock_skew longer", "clock_skew 30s -> 5m", replace("clock_skew: 30s", "clock_skew: 5m")},
		{"max_lifetime longer", "max_lifetime 1h -> 24h", replace("max_lifetime: 1h", "max_lifetime: 24h")},
		{"max_lifetime removed", "max_lifetime 1h -> no bound", replace("    max_lifetime: 1h\n", "")},
	} {
		if got := weakeningsOf(t, same, c.change); !strings.Contains(got, `issuer "demo-idp"`) || !strings.Contains(got, c.want) {
			t.Errorf("%s: Weakenings = %q; want issuer demo-idp named with %s", c.name, got, c.want)
		}
	}
	withTypes := replace("    clock_skew: 30s\n", "    clock_skew: 30s\n    types: [at+jwt, JWT]\n")
	// From some types to none, a token without typ passes.
	if got := weakeningsOf(t, withTypes, replace("    types: [at+jwt, JWT]\n", "")); !strings.Contains(got, `issuer "demo-idp" accepts more of its tokens: types [at+jwt JWT] removed`) {
		t.Errorf("types removed: Weakenings = %q; want issuer demo-idp named with its types removed", got)
	}
	twoAudiences := replace("audiences: [portcullis-demo]", "audiences: [portcullis-demo, billing]")
	for _, c := range []struct {
		name   string
		base   func(string) string
		change func(string) string
	}{
		{"audience removed", twoAudiences, replace("audiences: [portcullis-demo, billing]", "audiences: [portcullis-demo]")},
		{"clock_skew shorter", same, replace("clock_skew: 30s", "clock_skew: 10s")},
		{"max_lifetime shorter", same, replace("max_lifetime: 1h", "max_lifetime: 10m")},
		{"a type dropped, another in another case", withTypes, replace("types: [at+jwt, JWT]", "types: [AT+JWT]")},
	} {
		if got := weakeningsOf(t, c.base, c.change); got != "" {
			t.Errorf("%s: Weakenings = %q; want none", c.name, got)
		}
	}
}
