package policy

import (
	"os"
	"strings"
	"testing"
)

// weakeningsEachStep loads base(example) and each step applied to the
// one before, and returns the weakenings of each push.
func weakeningsEachStep(t *testing.T, base func(string) string, steps ...func(string) string) []string {
	t.Helper()
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	src := base(string(raw))
	cur, err := Load("base", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, step := range steps {
		src = step(src)
		next, err := Load("step", []byte(src))
		if err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
		out = append(out, strings.Join(Weakenings(cur, next), "; "))
		cur = next
	}
	return out
}

// TestTwoHarmlessLookingPushes: an operator alone tries to make a client's existing keys
// privileged credentials, or max_sidecars higher, in pushes each of which
// looks harmless. Each sequence must have a push that weakens: held.
func TestTwoHarmlessLookingPushes(t *testing.T) {
	t.Parallel()
	biReads := replace("    scopes: [read:reports]\n    limit: {rate: 20/s", "    scopes: [read:users]\n    limit: {rate: 20/s")
	biReportsBack := replace("    scopes: [read:users]\n    limit: {rate: 20/s", "    scopes: [read:reports]\n    limit: {rate: 20/s")
	addReader := replace("\nkeys:\n", "  - id: globex-reader\n    tenant: globex\n    owner: bi@globex.example\n    scopes: [read:reports]\n\nkeys:\n")
	otherChange := replace("limit: {rate: 20/s, burst: 40}", "limit: {rate: 10/s, burst: 40}")
	moveBi := replace("  - id: globex-bi\n    tenant: globex\n", "  - id: globex-bi\n    tenant: acme\n")
	ten := replace("\nkeys:\n", "\nglobal_limits: {max_sidecars: 10}\n\nkeys:\n")
	noLimits := replace("\nglobal_limits: {max_sidecars: 10}\n", "\n")
	twenty := replace("\nkeys:\n", "\nglobal_limits: {max_sidecars: 20}\n\nkeys:\n")
	for _, c := range []struct {
		name  string
		base  func(string) string
		steps []func(string) string
	}{
		{"scope dropped while made privileged, then given back", keyApprovalOn, []func(string) string{func(s string) string { return made(biReads(s)) }, biReportsBack}},
		{"client added with the scope, then the scope made privileged with another change", keyApprovalOn, []func(string) string{addReader, func(s string) string { return otherChange(made(s)) }}},
		{"made privileged while its holder moves tenant", keyApprovalOn, []func(string) string{func(s string) string { return moveBi(made(s)) }}},
		{"global_limits removed, then put back higher", func(s string) string { return ten(s) }, []func(string) string{noLimits, twenty}},
	} {
		got := weakeningsEachStep(t, c.base, c.steps...)
		if strings.Join(got, "") == "" {
			t.Errorf("%s: no push weakens: %q", c.name, got)
		}
	}
}
