package policy

import (
	"os"
	"strings"
	"testing"
)

// Weakenings lists each change a push makes that one operator could use
// to undo the two-person controls, and nothing for a push that keeps or
// strengthens them.
func TestWeakenings(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(strings.Replace(string(raw), "privileged_key_approval: false", "privileged_key_approval: true", 1),
		"require_ticket: false", "require_ticket: true", 1)
	base = strings.Replace(base, "allow_cidrs: [10.0.0.0/8]\n", "allow_cidrs: [10.0.0.0/8]\n    max_token_age: 1h\n", 1)
	load := func(name, doc string) *Document {
		t.Helper()
		d, err := Load(name, []byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return d
	}
	cur := load("base", base)
	const full = "approval: {required: true, max_uses: 1, max_age: 1h}"
	for _, c := range []struct{ name, old, new, want string }{
		{"same", "", "", ""},
		{"comment", "lifecycle:\n", "# a note\nlifecycle:\n", ""},
		{"key approval off", "privileged_key_approval: true", "privileged_key_approval: false", "lifecycle.privileged_key_approval turned off"},
		{"ticket off", "require_ticket: true", "require_ticket: false", "lifecycle.require_ticket turned off"},
		{"route approval off", full, "approval: {required: false}", `route "POST /v1/exports/full" no longer requires an approval`},
		{"route approval widened", full, "approval: {required: true, max_uses: 5, max_age: 1h}", `route "POST /v1/exports/full" approval widened`},
		{"route approval narrowed", full, "approval: {required: true, max_uses: 1, max_age: 30m}", ""},
		{"scope unprivileged", "Bulk export of tenant data\n    privileged: true", "Bulk export of tenant data", `scope "export:data" no longer privileged`},
		{"scope given", "scopes: [read:reports]\n", "scopes: [read:reports, admin:settings]\n", `client "globex-bi" given privileged scope "admin:settings"`},
		{"mtls added", `mtls_identities: ["spiffe://cluster.local/ns/acme/sa/admin-console"]`, `mtls_identities: ["spiffe://cluster.local/ns/acme/sa/admin-console", "subject:CN=x"]`, `client "acme-admin" (privileged) given mTLS identity "subject:CN=x"`},
		{"key moved to privileged client", "id: acmehris1\n    client: acme-hris", "id: acmehris1\n    client: acme-admin", `key "acmehris1" added or widened`},
		{"key lifetime extended", "id: acmeadm1\n    client: acme-admin\n    sha256: b5fc76602f5855a0f39b1c200736677760a57e481a0b9ab472e53c86921d2ddf\n    created_by: demo\n    ticket: DEMO-2\n    created_at: \"2026-01-01T00:00:00Z\"",
			"id: acmeadm1\n    client: acme-admin\n    sha256: b5fc76602f5855a0f39b1c200736677760a57e481a0b9ab472e53c86921d2ddf\n    created_by: demo\n    ticket: DEMO-2\n    created_at: \"2027-01-01T00:00:00Z\"", `key "acmeadm1" added or widened`},
		{"issuer added", "issuers:\n", "issuers:\n  - {id: other-idp, issuer: https://idp.other.example, tenants: [acme], hmac_secret: \"env:X\", audiences: [a], algorithms: [HS256]}\n", `issuer "other-idp" added or changed, and its tokens may name client "acme-admin"`},
		{"issuer key changed", "kid\":\"demo-1\"", "kid\":\"demo-2\"", `issuer "demo-idp" added or changed`},
		{"issuer of no privileged tenant", "tenants: [acme, globex]", "tenants: [globex]", ""},
		{"route scope swapped", "{method: PUT, path: /v1/admin/settings, class: privileged, scopes: [admin:settings]}", "{method: PUT, path: /v1/admin/settings, class: privileged, scopes: [read:reports]}", `route "PUT /v1/admin/settings" no longer requires privileged scope "admin:settings"`},
		{"route moved to another class", "{method: PUT, path: /v1/admin/settings, class: privileged, scopes: [admin:settings]}", "{method: PUT, path: /v1/admin/settings, class: standard, scopes: [read:users]}", `route "PUT /v1/admin/settings" no longer requires privileged scope "admin:settings"`},
		{"route templated", "{method: PUT, path: /v1/admin/settings, class: privileged, scopes: [admin:settings]}", "{method: PUT, path: \"/v1/admin/{name}\", class: standard, scopes: [read:users]}", `route "PUT /v1/admin/settings" no longer requires privileged scope "admin:settings"`},
		{"route case renamed", "{method: PUT, path: /v1/admin/settings, class: privileged, scopes: [admin:settings]}", "{method: PUT, path: /v1/Admin/settings, class: standard, scopes: [read:users]}", `route "PUT /v1/admin/settings" no longer requires privileged scope "admin:settings"`},
		{"route templated public", "{method: PUT, path: /v1/admin/settings, class: privileged, scopes: [admin:settings]}", "{method: PUT, path: \"/v1/{area}/settings\", class: standard, public: true}", `route "PUT /v1/admin/settings" no longer requires privileged scope "admin:settings"`},
		{"route scope added", "{method: PUT, path: /v1/admin/settings, class: privileged, scopes: [admin:settings]}", "{method: PUT, path: /v1/admin/settings, class: privileged, scopes: [admin:settings, read:reports]}", ""},
		{"route removed", "  - {method: PUT, path: /v1/admin/settings, class: privileged, scopes: [admin:settings]}\n", "", ""},
		{"max_key_age lengthened", "max_key_age: 87600h", "max_key_age: 175200h", "lifecycle.max_key_age lengthened from 87600h0m0s to 175200h0m0s"},
		{"max_key_age shortened", "max_key_age: 87600h", "max_key_age: 8760h", ""},
		{"class cidrs widened", "allow_cidrs: [10.0.0.0/8]", "allow_cidrs: [10.0.0.0/8, 0.0.0.0/0]", `class "integration-admin" (privileged) allow_cidrs widened: 0.0.0.0/0 is inside none of [10.0.0.0/8]`},
		{"class cidrs as mapped IPv6", "allow_cidrs: [10.0.0.0/8]", `allow_cidrs: ["::ffff:0.0.0.0/96"]`, `allow_cidrs widened: ::ffff:0.0.0.0/96 is inside none`},
		{"class cidrs removed", "    allow_cidrs: [10.0.0.0/8]\n", "", `class "integration-admin" (privileged) allow_cidrs removed`},
		{"class cidrs narrowed", "allow_cidrs: [10.0.0.0/8]", "allow_cidrs: [10.1.0.0/16, 10.2.3.4]", ""},
		{"class auth method added", "auth_methods: [api_key, jwt]", "auth_methods: [jwt, mtls]", `class "integration-admin" (privileged) auth_methods widened from [api_key, jwt] to [jwt, mtls]`},
		{"class auth methods removed", "    auth_methods: [api_key, jwt]\n", "", `auth_methods widened from [api_key, jwt] to any (none listed)`},
		{"class auth methods narrowed", "auth_methods: [api_key, jwt]", "auth_methods: [jwt]", ""},
		{"class token age lengthened", "max_token_age: 1h", "max_token_age: 24h", `class "integration-admin" (privileged) max_token_age lengthened from 1h0m0s to 24h0m0s`},
		{"class token age removed", "    max_token_age: 1h\n", "", `max_token_age lengthened from 1h0m0s to none`},
		{"class token age zero", "max_token_age: 1h", "max_token_age: 0s", `max_token_age lengthened from 1h0m0s to none`},
		{"class token age shortened", "max_token_age: 1h", "max_token_age: 5m", ""},
		{"route moved to a looser class", "{method: POST, path: /v1/integrations, class: integration-admin, scopes: [manage:integrations]}",
			"{method: POST, path: /v1/integrations, class: privileged, scopes: [manage:integrations]}",
			`route "POST /v1/integrations" of class "integration-admin" (privileged) served by route "POST /v1/integrations" of class "privileged", which allow_cidrs widened: 127.0.0.0/8 is inside none of [10.0.0.0/8]`},
		{"proxy trusted", "lifecycle:\n", "trusted_proxies: [0.0.0.0/0]\nlifecycle:\n", `trusted_proxies widened: 0.0.0.0/0 is inside none of []`},
		{"key shortened", "id: acmeadm1\n    client: acme-admin\n", "id: acmeadm1\n    client: acme-admin\n    not_after: \"2027-01-01T00:00:00Z\"\n", ""},
	} {
		next := base
		if c.old != "" {
			if strings.Count(base, c.old) != 1 {
				t.Fatalf("%s: the example holds %q %d times", c.name, c.old, strings.Count(base, c.old))
			}
			next = strings.Replace(base, c.old, c.new, 1)
		}
		got := strings.Join(Weakenings(cur, load(c.name, next)), "; ")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: Weakenings = %q; want %q", c.name, got, c.want)
		}
	}
	if got := Weakenings(&Document{}, cur); len(got) != 0 {
		t.Errorf("first push: Weakenings = %q; want none", got)
	}
}

// A privileged client moved into a tenant an issuer already serves makes
// that issuer's tokens credentials of it, made without an approval, though
// the issuer itself is unchanged.
func TestWeakeningsClientMovedToIssuersTenant(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(string(raw), "privileged_key_approval: false", "privileged_key_approval: true", 1)
	base = strings.Replace(base, "tenants: [acme, globex]", "tenants: [globex]", 1)
	next := strings.Replace(base, "id: acme-admin\n    tenant: acme", "id: acme-admin\n    tenant: globex", 1)
	if next == base {
		t.Fatal("the example has no acme-admin of tenant acme")
	}
	cur, err := Load("cur", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	nd, err := Load("next", []byte(next))
	if err != nil {
		t.Fatal(err)
	}
	const want = `issuer "demo-idp" may name client "acme-admin" (privileged), moved to or added in its tenant "globex"`
	if got := strings.Join(Weakenings(cur, nd), "; "); !strings.Contains(got, want) {
		t.Errorf("Weakenings = %q; want %q", got, want)
	}
}

// The kinds of weakening had three descriptions in different words (the
// push's message, the evidence pack's fact, the docs), each missing kinds
// the others had. WeakeningKinds is the one: docs/etcd.md lists each
// description word for word (backquotes and line breaks aside).
func TestWeakeningKindsDocumented(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../docs/etcd.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(strings.ReplaceAll(string(raw), "`", "")), " ")
	for _, k := range WeakeningKinds() {
		if !strings.Contains(doc, k.Description) {
			t.Errorf("docs/etcd.md does not list the weakening kind %q as %q", k.Name, k.Description)
		}
		if !strings.Contains(WeakeningKindNames(), k.Name) {
			t.Errorf("WeakeningKindNames() = %q; want %q named", WeakeningKindNames(), k.Name)
		}
	}
}
