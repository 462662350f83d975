package policy

import (
	"errors"
	"strings"
	"testing"
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
		"p.yaml:9: cannot unmarshal !!str `many` into int64",
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
