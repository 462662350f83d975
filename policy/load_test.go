package policy

import (
	"errors"
	"os"
	"strings"
	"testing"
)

const examplePath = "../examples/policy.yaml"

// doc joins lines into a document, so that a test's line numbers are the
// positions in its argument list (first line is line 1).
func doc(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// base is a small valid document; cases below replace or extend it.
var base = []string{
	"version: 1",                              // 1
	"tenants:",                                // 2
	"  - id: acme",                            // 3
	"scopes:",                                 // 4
	"  - name: read:users",                    // 5
	"    description: Read users",             // 6
	"  - name: admin:settings",                // 7
	"    description: Change settings",        // 8
	"    privileged: true",                    // 9
	"classes:",                                // 10
	"  - name: standard",                      // 11
	"    kind: standard",                      // 12
	"    max_body: 1MiB",                      // 13
	"  - name: admin",                         // 14
	"    kind: privileged",                    // 15
	"    max_body: 64KiB",                     // 16
	"routes:",                                 // 17
	"  - method: GET",                         // 18
	"    path: /v1/users",                     // 19
	"    class: standard",                     // 20
	"    scopes: [read:users]",                // 21
	"clients:",                                // 22
	"  - id: acme-hris",                       // 23
	"    tenant: acme",                        // 24
	"    scopes: [read:users]",                // 25
	"keys:",                                   // 26
	"  - id: acmehris1",                       // 27
	"    client: acme-hris",                   // 28
	"    sha256: " + strings.Repeat("ab", 32), // 29
}

// with returns base with line n (1-based) replaced by repl (which may be
// several lines, or none to delete it); n == 0 appends.
func with(n int, repl ...string) string {
	out := append([]string(nil), base[:max(0, n-1)]...)
	if n == 0 {
		out = append(out, base...)
	}
	out = append(out, repl...)
	if n > 0 {
		out = append(out, base[n:]...)
	}
	return doc(out...)
}

func TestLoadExample(t *testing.T) {
	t.Parallel()
	d, err := LoadFile(examplePath)
	if err != nil {
		t.Fatalf("LoadFile(%q): %v", examplePath, err)
	}
	snap, err := Compile(d, Live{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if got, want := len(snap.Routes), 10; got != want {
		t.Errorf("routes = %d, want %d", got, want)
	}
	if got, want := snap.KeyCount(), 4; got != want {
		t.Errorf("keys = %d, want %d", got, want)
	}
}

func TestLoadBase(t *testing.T) {
	t.Parallel()
	d, err := Load("base.yaml", []byte(doc(base...)))
	if err != nil {
		t.Fatalf("Load(base): %v", err)
	}
	if _, err := Compile(d, Live{}); err != nil {
		t.Fatalf("Compile(base): %v", err)
	}
}

func TestLoadFileMissing(t *testing.T) {
	t.Parallel()
	_, err := LoadFile("testdata/does-not-exist.yaml")
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadFile(missing) = %v, want an error wrapping os.ErrNotExist", err)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	route := func(method, path string) string {
		return "  - {method: " + method + ", path: \"" + path + "\", class: standard, scopes: [read:users]}"
	}
	issuer := func(fields ...string) []string {
		return append([]string{"issuers:", "  - id: idp", "    tenants: [acme]"}, fields...)
	}
	goodIssuer := []string{
		"    issuer: https://idp.example",
		"    jwks_url: https://idp.example/jwks",
		"    audiences: [api]",
		"    algorithms: [RS256]",
	}
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"unknown top-level field", with(0, "colour: blue"),
			[]string{"p.yaml:30: field colour not found in Document"}},
		// YAML 1.1's yes/no/on/off/y/n decoded into a bool even quoted, so
		// public: "y" made a route public while public: "true" was a type
		// error; schema.json says boolean: only true and false.
		{"yes for a boolean", with(29, "    sha256: "+strings.Repeat("ab", 32), "    revoked: yes"),
			[]string{`p.yaml:30: "yes" is not a boolean: write true or false`}},
		{"quoted y for a boolean", with(21, "    scopes: [read:users]", `  - {method: GET, path: /v1/status, class: standard, public: "y"}`),
			[]string{`p.yaml:22: "y" is not a boolean: write true or false`}},
		{"unknown nested field", with(3, "  - id: acme", "    limits: {rate: 5/s}"),
			[]string{"p.yaml:4: field limits not found in TenantSpec (did you mean limit?)"}},
		{"unknown field in flow mapping", with(21, "    scopes: [read:users]", "    extra: {x: 1}"),
			[]string{"p.yaml:22: field extra not found in RouteSpec"}},
		{"duplicate mapping key", with(13, "    max_body: 1MiB", "    kind: auth"),
			[]string{`p.yaml:14: mapping key "kind" already defined at line 12`}},
		{"duplicate key and unknown field in one mapping", with(3, "  - id: acme", "    bogus: 1", "    id: other"),
			[]string{
				"p.yaml:4: field bogus not found in TenantSpec",
				`p.yaml:5: mapping key "id" already defined at line 3`,
			}},
		{"wrong type", with(1, "version: one"),
			[]string{`p.yaml:1: version: want an integer, got "one"`}},
		{"wrong type nested", with(25, "    scopes: read:users"),
			[]string{`p.yaml:25: scopes: want a list, got "read:users" (write [read:users])`}},
		{"not a mapping", doc("- a"),
			[]string{"p.yaml:1: cannot unmarshal !!seq into Document"}},
		{"empty document", "",
			[]string{"p.yaml:1: version must be 1, got 0"}},
		{"duplicate tenant", with(4, "  - id: acme", "scopes:"),
			[]string{`p.yaml:4: duplicate tenant "acme" (first defined at line 3)`}},
		{"duplicate client", with(25, "    scopes: [read:users]", "  - id: acme-hris", "    tenant: acme", "    scopes: []"),
			[]string{`p.yaml:26: duplicate client "acme-hris" (first defined at line 23)`}},
		{"duplicate scope", with(9, "    privileged: true", "  - name: read:users", "    description: Again"),
			[]string{`p.yaml:10: duplicate scope "read:users" (first defined at line 5)`}},
		{"duplicate class", with(14, "  - name: standard"),
			[]string{`p.yaml:14: duplicate class "standard" (first defined at line 11)`}},
		{"duplicate key id", with(0, "  - id: acmehris1", "    client: acme-hris", "    sha256: "+strings.Repeat("cd", 32)),
			[]string{`p.yaml:30: duplicate key "acmehris1" (first defined at line 27)`}},
		{"missing tenant", with(24, "    tenant: initech"),
			[]string{`p.yaml:24: client "acme-hris": unknown tenant "initech"`}},
		{"missing client", with(28, "    client: nobody"),
			[]string{`p.yaml:28: key "acmehris1": unknown client "nobody"`}},
		{"missing scope on client", with(25, "    scopes: [read:users, write:all]"),
			[]string{`p.yaml:25: client "acme-hris": unknown scope "write:all"`}},
		{"missing scope on route", with(21, "    scopes:", "      - read:users", "      - read:nothing"),
			[]string{`p.yaml:23: route GET /v1/users: unknown scope "read:nothing"`}},
		{"missing class", with(20, "    class: gold"),
			[]string{`p.yaml:20: route GET /v1/users: unknown class "gold"`}},
		{"bad CIDR", with(16, "    max_body: 64KiB", "    allow_cidrs: [10.0.0.0/8, 10.0.0.0/33]"),
			[]string{`p.yaml:17: class "admin": cannot parse CIDR "10.0.0.0/33"`}},
		{"CIDR with host bits", with(16, "    max_body: 64KiB", "    allow_cidrs:", "      - 10.1.2.3/8"),
			[]string{`p.yaml:18: class "admin": CIDR "10.1.2.3/8" has host bits set (did you mean 10.0.0.0/8?)`}},
		{"bad trusted proxy", with(0, "trusted_proxies: [192.168.0.1/16]"),
			[]string{`p.yaml:30: trusted proxy: CIDR "192.168.0.1/16" has host bits set (did you mean 192.168.0.0/16?)`}},
		{"bad rate unit", with(3, "  - id: acme", "    limit: {rate: 5/fortnight}"),
			[]string{`p.yaml:4: tenant "acme" limit: cannot parse rate "5/fortnight": unknown unit "fortnight"`}},
		{"bad rate count", with(25, "    scopes: [read:users]", "    limit: {rate: x/s}"),
			[]string{`p.yaml:26: client "acme-hris" limit: cannot parse rate "x/s": count must be an integer from 1 to 1e9`}},
		{"zero rate", with(13, "    max_body: 1MiB", "    limit: {rate: 0/s}"),
			[]string{`p.yaml:14: class "standard" limit: cannot parse rate "0/s": count must be an integer from 1 to 1e9`}},
		{"bad size", with(13, "    max_body: 1.5MiB"),
			[]string{`p.yaml:13: class "standard": cannot parse size "1.5MiB": want a byte count like 65536, 64KiB or 1MiB`}},
		{"missing size", with(13),
			[]string{`p.yaml:11: class "standard": max_body is required`}},
		{"bad duration", with(16, "    max_body: 64KiB", "    concurrency: {max: 2, max_wait: 2 seconds}"),
			[]string{`p.yaml:17: class "admin": max_wait: cannot parse duration "2 seconds": time: unknown unit " seconds" in duration "2 seconds"`}},
		{"concurrency queue too large", with(16, "    max_body: 64KiB", "    concurrency: {max: 2, queue: 2000000}"),
			[]string{`p.yaml:17: class "admin": concurrency max must be from 1 to 1048576 and queue from 0 to 1048576`}},
		{"max_wait too long", with(16, "    max_body: 64KiB", "    concurrency: {max: 2, queue: 2, max_wait: 24h}"),
			[]string{`p.yaml:17: class "admin": max_wait 24h is longer than 5m0s: a queued request holds its client connection and a place in the queue while it waits`}},
		{"negative duration", with(0, "staleness: {max_age: -1s}"),
			[]string{`p.yaml:30: staleness: duration "-1s" is negative`}},
		{"overlapping routes", with(21, "    scopes: [read:users]", route("GET", "/v1/users/{id}"), route("GET", "/v1/users/me")),
			[]string{`p.yaml:23: route GET /v1/users/me matches the same requests as route GET /v1/users/{id} at line 22`}},
		{"identical routes", with(21, "    scopes: [read:users]", route("GET", "/v1/users")),
			[]string{`p.yaml:22: route GET /v1/users matches the same requests as route GET /v1/users at line 18`}},
		{"routes differing in case", with(21, "    scopes: [read:users]", route("GET", "/v1/{x}/{id}"), route("GET", "/V1/Users")),
			[]string{`p.yaml:23: route GET /V1/Users matches the same requests as route GET /v1/users at line 18 ignoring case (a service that routes without case, as Express and ASP.NET Core do by default, takes one for the other)`}},
		{"public HEAD beside a scoped GET", with(21, "    scopes: [read:users]", "  - {method: HEAD, path: \"/v1/{x}\", class: standard, public: true}"),
			[]string{`p.yaml:22: route HEAD /v1/{x} is checked less than route GET /v1/users at line 18, whose requests it matches (public where that needs a credential): services run the GET handler for a HEAD (Go's ServeMux, Express, Spring, Rails), so it would run for a request that route never checked`}},
		{"HEAD without the GET's scope or class", with(21, "    scopes: [read:users]",
			"  - {method: GET, path: /v1/admin, class: admin, scopes: [admin:settings]}",
			"  - {method: HEAD, path: /v1/ADMIN, class: standard, scopes: [read:users]}"),
			[]string{`p.yaml:23: route HEAD /v1/ADMIN is checked less than route GET /v1/admin at line 22, whose requests it matches (without scope admin:settings; in class standard, not admin): services run the GET handler for a HEAD (Go's ServeMux, Express, Spring, Rails), so it would run for a request that route never checked`}},
		{"two params overlap", with(21, "    scopes: [read:users]", route("GET", "/v1/{a}/x"), route("GET", "/v1/{b}/x")),
			[]string{`p.yaml:23: route GET /v1/{b}/x matches the same requests as route GET /v1/{a}/x at line 22`}},
		{"privileged scope on standard class", with(21, "    scopes: [read:users, admin:settings]"),
			[]string{`p.yaml:21: route GET /v1/users: privileged scope "admin:settings" on non-privileged class "standard"`}},
		{"public route with scopes", with(21, "    scopes: [read:users]", "    public: true"),
			[]string{`p.yaml:22: route GET /v1/users: a public route can have no scopes and no privileged class`}},
		{"route without scopes", with(21),
			[]string{`p.yaml:18: route GET /v1/users: needs scopes (or public: true)`}},
		{"bad route path", with(19, "    path: /v1//users"),
			[]string{`p.yaml:19: route GET /v1//users: empty, . or .. segment`}},
		// allow_body is for GET, DELETE and OPTIONS routes (the GET of
		// line 18 takes it), no other method's.
		{"allow_body on other methods", with(21, "    scopes: [read:users]", "    allow_body: true",
			"  - {method: POST, path: /v1/p, class: standard, scopes: [read:users], allow_body: true}",
			"  - {method: HEAD, path: /v1/h, class: standard, scopes: [read:users], allow_body: true}"),
			[]string{
				`p.yaml:23: route POST /v1/p: allow_body is only for GET, DELETE and OPTIONS routes`,
				`p.yaml:24: route HEAD /v1/h: allow_body is only for GET, DELETE and OPTIONS routes`,
			}},
		{"bad method", with(18, "  - method: get"),
			[]string{`p.yaml:18: route get /v1/users: method must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`}},
		{"issuer alg none", with(0, append(issuer(goodIssuer[:3]...), "    algorithms: [RS256, none]")...),
			[]string{`p.yaml:36: issuer "idp": algorithm "none" is not allowed (RS256, PS256, ES256, EdDSA, HS256; never none)`}},
		{"issuer HS256 without secret", with(0, append(issuer(goodIssuer[:3]...), "    algorithms: [HS256]")...),
			[]string{`p.yaml:36: issuer "idp": HS256 needs hmac_secret, and hmac_secret needs HS256`}},
		{"issuer inline secret", with(0, append(issuer(goodIssuer[:3]...), "    algorithms: [HS256]", "    hmac_secret: hunter2")...),
			[]string{`p.yaml:37: issuer "idp": hmac_secret must be a reference env:NAME or file:PATH, never the secret itself`}},
		{"issuer http not loopback", with(0, append(issuer("    issuer: http://idp.example"), goodIssuer[1:]...)...),
			[]string{`p.yaml:33: issuer "idp": issuer "http://idp.example" must be an https URL (http only on loopback)`}},
		{"issuer jwks_url http not loopback", with(0, append(issuer(goodIssuer[0], "    jwks_url: http://10.0.0.1/jwks"), goodIssuer[2:]...)...),
			[]string{`p.yaml:34: issuer "idp": jwks_url "http://10.0.0.1/jwks" must be an https URL (http only on loopback)`}},
		{"issuer both jwks and jwks_url", with(0, append(issuer(goodIssuer...), "    jwks: '{}'")...),
			[]string{`p.yaml:31: issuer "idp": set exactly one of jwks_url and jwks`}},
		{"issuer without tenants", with(0, append([]string{"issuers:", "  - id: idp"}, goodIssuer...)...),
			[]string{`p.yaml:31: issuer "idp": tenants must list the tenants whose clients its tokens may speak for`}},
		{"issuer unknown tenant", with(0, append([]string{"issuers:", "  - id: idp", "    tenants: [acme, initech]"}, goodIssuer...)...),
			[]string{`p.yaml:32: issuer "idp": unknown tenant "initech"`}},
		// A password in a refused value never reaches the error: it goes
		// to the log and, for a policy from etcd, to /readyz.
		{"upstream host with userinfo", with(0, "upstream_host: admin:s3cr3t@svc"),
			[]string{`p.yaml:30: upstream_host "admin:xxxxx@svc" must be host or host:port of letters, digits, '.', '-' and ':'`}},
		{"issuer jwks_url http with password", with(0, append(issuer(goodIssuer[0], "    jwks_url: http://alice:s3cr3t@10.0.0.1/jwks"), goodIssuer[2:]...)...),
			[]string{`p.yaml:34: issuer "idp": jwks_url "http://alice:xxxxx@10.0.0.1/jwks" must be an https URL (http only on loopback)`}},
		{"issuer jwks_url http with a token in its query", with(0, append(issuer(goodIssuer[0], "    jwks_url: http://10.0.0.1/jwks?access_token=s3cr3t#frag?x=s3cr3t"), goodIssuer[2:]...)...),
			[]string{`p.yaml:34: issuer "idp": jwks_url "http://10.0.0.1/jwks?xxxxx" must be an https URL (http only on loopback)`}},
		{"audit collector with a fragment", with(0, "audit:", "  collector: ftp://collector.example/v1#s3cr3t"),
			[]string{`p.yaml:31: audit collector "ftp://collector.example/v1" must be an http(s) URL`}},
		{"issuer http with password", with(0, append(issuer("    issuer: http://alice:s3cr3t@idp.example"), goodIssuer[1:]...)...),
			[]string{`p.yaml:33: issuer "idp": issuer "http://alice:xxxxx@idp.example" must be an https URL (http only on loopback)`}},
		{"audit collector with password", with(0, "audit:", "  collector: ftp://bob:s3cr3t@collector.example/v1"),
			[]string{`p.yaml:31: audit collector "ftp://bob:xxxxx@collector.example/v1" must be an http(s) URL`}},
		{"audit collector unparsable with password", with(0, "audit:", "  collector: \"http://bob:s3%zz@collector.example\""),
			[]string{`p.yaml:31: audit collector "http://bob:xxxxx@collector.example" must be an http(s) URL`}},
		{"bad audit mode", with(0, "audit:", "  mode: loud"),
			[]string{`p.yaml:31: audit mode "loud" must be best_effort or strict`}},
		{"bad staleness action", with(0, "staleness:", "  action: panic"),
			[]string{`p.yaml:31: staleness action "panic" must be deny or serve`}},
		{"bad key sha256", with(29, "    sha256: abc"),
			[]string{`p.yaml:29: key "acmehris1": sha256 must be 64 hex digits`}},
		{"key window inverted", with(0, `    not_before: "2026-02-01T00:00:00Z"`, `    not_after: "2026-01-01T00:00:00Z"`),
			[]string{`p.yaml:31: key "acmehris1": not_after 2026-01-01T00:00:00Z is not after not_before 2026-02-01T00:00:00Z`}},
		{"many problems sorted by line", with(0, "audit: {mode: loud}", "trusted_proxies: [nope]") +
			"staleness: {action: panic}\n",
			[]string{
				`p.yaml:30: audit mode "loud" must be best_effort or strict`,
				`p.yaml:31: trusted proxy: cannot parse CIDR "nope"`,
				`p.yaml:32: staleness action "panic" must be deny or serve`,
			}},
		{"problems in many sections", strings.Replace(strings.Replace(with(24, "    tenant: initech"),
			"class: standard", "class: gold", 1), "version: 1", "version: 2", 1),
			[]string{
				"p.yaml:1: version must be 1, got 2",
				`p.yaml:20: route GET /v1/users: unknown class "gold"`,
				`p.yaml:24: client "acme-hris": unknown tenant "initech"`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load("p.yaml", []byte(tt.doc))
			if err == nil {
				t.Fatalf("Load succeeded, want errors:\n%s\ndocument:\n%s", strings.Join(tt.want, "\n"), tt.doc)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %T", err)
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("errors:\n%s\nwant:\n%s\ndocument:\n%s", got, want, numbered(tt.doc))
			}
		})
	}
}

// numbered prefixes each line of s with its number, for failure messages.
func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		b.WriteString(strings.Repeat(" ", 3-len(itoa(i+1))) + itoa(i+1) + "  " + l + "\n")
	}
	return b.String()
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// TestLoadSyntaxError checks that a syntax error is reported. Its line is
// the one yaml.v3 reports, which for parser errors is the line where the
// enclosing construct starts, counted from 0: not worth asserting.
func TestLoadSyntaxError(t *testing.T) {
	t.Parallel()
	_, err := Load("p.yaml", []byte(doc("version: 1", "tenants: [a", "scopes: x")))
	if err == nil || !strings.HasPrefix(err.Error(), "p.yaml:") || !strings.Contains(err.Error(), "did not find expected") {
		t.Fatalf("Load(syntax error) = %v, want p.yaml:LINE: did not find expected ...", err)
	}
}

func TestLoadAcceptsDifferentMethods(t *testing.T) {
	t.Parallel()
	d := with(21, "    scopes: [read:users]",
		"  - {method: GET, path: \"/v1/users/{id}\", class: standard, scopes: [read:users]}",
		"  - {method: PUT, path: /v1/users/me, class: standard, scopes: [read:users]}",
		"  - {method: GET, path: /v1/users/me/photo, class: standard, scopes: [read:users]}",
		"  - {method: GET, path: /, class: standard, public: true}",
	)
	if _, err := Load("p.yaml", []byte(d)); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

func TestLoadIssuerOK(t *testing.T) {
	t.Parallel()
	d := with(0, "issuers:",
		"  - {id: idp, issuer: https://idp.example, jwks_url: https://idp.example/jwks, audiences: [api], algorithms: [RS256, ES256], tenants: [acme]}",
		"  - {id: dev, issuer: http://127.0.0.1:8080, jwks: '{}', audiences: [api], algorithms: [EdDSA], clock_skew: 30s, tenants: [acme]}",
		"  - {id: hs, issuer: http://localhost, audiences: [api], algorithms: [HS256], hmac_secret: env:HS_SECRET, tenants: [acme]}",
	)
	if _, err := Load("p.yaml", []byte(d)); err != nil {
		t.Fatalf("Load: %v", err)
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	e := &Error{File: "a.yaml", Problems: []Problem{{1, "one"}, {0, "two"}}}
	if got, want := e.Error(), "a.yaml:1: one\na.yaml:0: two"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestLoadRefusesASecondDocument: a file with a second YAML document after
// '---' (policies concatenated, an amendment appended) was read as its
// first alone, every line after the separator silently dropped, and
// validate said ok. It is now refused, naming the separator's line.
func TestLoadRefusesASecondDocument(t *testing.T) {
	t.Parallel()
	d := doc(append(append([]string(nil), base[:22]...), // 1-22: up to "clients:"
		"---", // 23
		"clients:",
		"  - {id: acme-hris, tenant: acme, scopes: [read:users]}",
	)...)
	_, err := Load("p.yaml", []byte(d))
	if err == nil || !strings.Contains(err.Error(), "p.yaml:23: ") || !strings.Contains(err.Error(), "one YAML document") {
		t.Fatalf("Load(two documents) = %v, want p.yaml:23: ... one YAML document ...", err)
	}
	if _, err := Load("p.yaml", []byte(doc(base...)+"---\nclients: [a\n")); err == nil || !strings.Contains(err.Error(), "one YAML document") {
		t.Fatalf("Load(second document that does not parse) = %v, want an error naming it", err)
	}
	// A leading '---' and a trailing '...' still make one document.
	if _, err := Load("p.yaml", []byte("---\n"+doc(base...)+"...\n")); err != nil {
		t.Fatalf("Load(one document with markers): %v", err)
	}
}

// TestIssuerClockSkewBounded: an issuer's clock_skew had no bound, so a
// slip such as clock_skew: 5h (for 5m) accepted tokens expired five hours
// ago, or valid five hours from now, without a word. A skew past
// MaxClockSkew is refused, naming the issuer and the bound.
func TestIssuerClockSkewBounded(t *testing.T) {
	t.Parallel()
	issuer := func(skew string) string {
		return with(0, "issuers:",
			"  - {id: idp, issuer: https://idp.example, jwks_url: https://idp.example/jwks, audiences: [api], algorithms: [ES256], clock_skew: "+skew+", tenants: [acme]}")
	}
	if _, err := Load("p.yaml", []byte(issuer("5m"))); err != nil {
		t.Errorf("clock_skew 5m: %v", err)
	}
	_, err := Load("p.yaml", []byte(issuer("5h")))
	if err == nil || !strings.Contains(err.Error(), `issuer "idp": clock_skew 5h0m0s is more than 5m0s`) {
		t.Errorf("clock_skew 5h: got %v, want an error naming the issuer and the 5m bound", err)
	}
}

// Finding (req803): an issuer's max_lifetime of 0s was read as none (the
// data plane's jwt.Config: 0, no bound), so a push writing the tightest
// bound there is let every token of that issuer through whatever its
// lifetime, and no two-person rule looks at an issuer's max_lifetime. A
// bound of zero admits no token and is refused; left out, there is none.
func TestIssuerMaxLifetimeZeroRefused(t *testing.T) {
	t.Parallel()
	issuer := func(lifetime string) string {
		return with(0, "issuers:",
			"  - {id: idp, issuer: https://idp.example, jwks_url: https://idp.example/jwks, audiences: [api], algorithms: [ES256], max_lifetime: "+lifetime+", tenants: [acme]}")
	}
	if _, err := Load("p.yaml", []byte(issuer("1h"))); err != nil {
		t.Errorf("max_lifetime 1h: %v", err)
	}
	for _, zero := range []string{"0s", "0", "0h0m"} {
		_, err := Load("p.yaml", []byte(issuer(zero)))
		if err == nil || !strings.Contains(err.Error(), `issuer "idp": max_lifetime `+zero+` admits no token`) {
			t.Errorf("max_lifetime %s: got %v, want an error naming the issuer and saying it admits no token", zero, err)
		}
	}
}
