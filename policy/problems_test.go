package policy

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Load reports every problem of a document at once: unknown fields and
// wrong types together with what validation finds, so one run of
// `policy validate` lists everything to fix (issue 13, item 11).
func TestLoadReportsEveryProblem(t *testing.T) {
	t.Parallel()
	doc := `version: 1
colour: blue
tenants:
  - {id: acme, limit: {rate: 5/s, burst: 0}}
  - {id: acme}
scopes: [{name: read:users}]
classes: [{name: std, kind: standard, max_body: 1MiB, limit: {rate: lots}}]
routes: [{method: GET, path: /v1/x, class: nope}]
clients: [{id: c1, tenant: acme, scopes: [read:users], limit: {rate: 1/s, burst: many}}]
`
	_, err := Load("p.yaml", []byte(doc))
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("Load = %v, want an *Error", err)
	}
	want := []string{
		"p.yaml:2: field colour not found in Document",
		"p.yaml:4: burst 0: burst must be at least 1",
		`p.yaml:5: duplicate tenant "acme"`,
		`p.yaml:6: scope "read:users" needs a description`,
		`p.yaml:7: class "std" limit: cannot parse rate "lots"`,
		`p.yaml:8: `,
		`p.yaml:9: burst: want an integer, got "many"`,
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("problems lack %q:\n%s", w, got)
		}
	}
	if n := strings.Count(got, "p.yaml:9:"); n != 1 {
		t.Errorf("line 9 reported %d times, want once (the zero burst is not reported again):\n%s", n, got)
	}
}

// schema.json gives burst a minimum of 1; a written "burst: 0" is refused,
// while leaving burst out still means the default.
func TestLoadBurstZero(t *testing.T) {
	t.Parallel()
	base := "version: 1\ntenants: [{id: acme, limit: {rate: 5/s%s}}]\n"
	if _, err := Load("p.yaml", []byte(strings.Replace(base, "%s", "", 1))); err != nil {
		t.Fatalf("no burst: %v", err)
	}
	for _, b := range []string{", burst: 0", ", burst: 0x0"} {
		_, err := Load("p.yaml", []byte(strings.Replace(base, "%s", b, 1)))
		if err == nil || !strings.Contains(err.Error(), "p.yaml:2: burst 0") {
			t.Errorf("%q: Load = %v, want burst 0 refused at line 2", b, err)
		}
	}
}

// Every document schema.json rejects, Load rejects too: `policy validate`
// enforces the published schema (issue 13, item 11). Each case breaks one
// rule of the schema; the schema's own validator (schema_test.go) confirms
// that the schema does reject it.
func TestLoadEnforcesSchema(t *testing.T) {
	t.Parallel()
	root := loadSchema(t)
	for _, bad := range []string{
		with(3, "  - id: acme", "    limit: {rate: 5/s, burst: 0}"),
		with(3, "  - id: acme", "    limit: {rate: 5/s, burst: 2000000000}"),
		with(3, "  - id: acme", "    limit: {rate: 0/s}"),
		with(3, "  - id: Acme"),
		with(6, "    description: \"\""),
		with(13, "    max_body: 1TB"),
		with(13, "    max_body: 1MiB", "    concurrency: {max: 0}"),
		with(16, "    max_body: 64KiB", "    concurrency: {max: 1, queue: -1}"),
		with(16, "    max_body: 64KiB", "    concurrency: {max: 1, max_wait: 2days}"),
		with(16, "    max_body: 64KiB", "    allow_cidrs: [not-a-cidr]"),
		with(16, "    max_body: 64KiB", "    auth_methods: [password]"),
		with(25, "    scopes: [read:users]", "    mtls_identities: [hris]"),
		with(19, "    path: v1/users"),
		with(27, "  - id: short"),
		with(29, "    sha256: xyz"),
		with(29, "    sha256: "+strings.Repeat("ab", 32), "    not_before: yesterday"),
		with(0, "issuers: [{id: a, issuer: https://a.example, jwks: x, audiences: [], algorithms: [EdDSA]}]"),
		with(0, "issuers: [{id: a, issuer: https://a.example, jwks: x, audiences: [a], algorithms: []}]"),
		with(0, "issuers: [{id: a, issuer: https://a.example, jwks: x, audiences: [a], algorithms: [HS256], hmac_secret: hunter2}]"),
		with(0, "issuers: [{id: a, issuer: ftp://a.example, jwks: x, audiences: [a], algorithms: [EdDSA]}]"),
		with(0, "trusted_proxies: [nope]"),
		with(0, "audit: {mode: loud}"),
		with(0, "audit: {collector: ftp://c.example}"),
		with(0, "staleness: {action: panic}"),
		with(0, "staleness: {max_age: 5 minutes}"),
	} {
		changed := strings.TrimPrefix(bad, doc(base...))
		if changed == bad {
			changed = "a changed line of the base document"
		}
		var v any
		if err := yaml.Unmarshal([]byte(bad), &v); err != nil {
			t.Fatalf("case does not parse: %v\n%s", err, numbered(bad))
		}
		var schemaErrs []string
		root.validate(t, jsonValue(t, v), root, "", &schemaErrs)
		if len(schemaErrs) == 0 {
			t.Errorf("BUG in the case: schema.json accepts it (%s):\n%s", changed, numbered(bad))
			continue
		}
		if _, err := Load("p.yaml", []byte(bad)); err == nil {
			t.Errorf("Load accepts a document schema.json rejects (%s):\n%s", schemaErrs[0], numbered(bad))
		}
	}
}
