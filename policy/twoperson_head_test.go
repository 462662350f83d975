package policy

import (
	"os"
	"strings"
	"testing"
)

// A HEAD route runs the GET handler of the route whose requests it
// matches (services answer a HEAD with their GET handler, as headLooser
// says), so a push that replaces a GET route of a privileged class with a
// HEAD route of a lesser class and scope reaches that handler without the
// class's network, method and token age checks and without the privileged
// scope: the HEAD must be compared as the GET would be.
func TestWeakeningsHeadServesGet(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(string(raw), "privileged_key_approval: false", "privileged_key_approval: true", 1)
	const get = "  - {method: GET, path: /v1/admin/audit, class: privileged, scopes: [admin:settings]}\n"
	base = strings.Replace(base, "routes:\n", "routes:\n"+get, 1)
	cur, err := Load("base", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, head string }{
		{"same path", "  - {method: HEAD, path: /v1/admin/audit, class: standard, scopes: [read:users]}\n"},
		{"templated", "  - {method: HEAD, path: \"/v1/admin/{what}\", class: standard, scopes: [read:users]}\n"},
	} {
		next, err := Load(c.name, []byte(strings.Replace(base, get, c.head, 1)))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := strings.Join(Weakenings(cur, next), "; ")
		for _, want := range []string{
			`route "GET /v1/admin/audit" no longer requires privileged scope "admin:settings"`,
			`route "GET /v1/admin/audit" of class "privileged" (privileged) served by route "HEAD `,
		} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: Weakenings = %q; want %q", c.name, got, want)
			}
		}
	}
}
