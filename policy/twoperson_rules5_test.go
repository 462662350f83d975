package policy

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// keyApprovalOn is the example policy with privileged_key_approval on.
var keyApprovalOn = replace("privileged_key_approval: false", "privileged_key_approval: true")

// made makes read:reports, which globex-bi holds, privileged (and its
// route privileged, as validation asks).
func made(s string) string {
	s = replace("description: Read generated reports\n", "description: Read generated reports\n    privileged: true\n")(s)
	return replace(`path: "/v1/reports/{id}", class: standard`, `path: "/v1/reports/{id}", class: privileged`)(s)
}

// A scope some clients already hold, made privileged, makes their
// existing keys and mTLS identities privileged credentials, as a
// privileged scope given them does. Before, such a push weakened nothing
// and needed no approval: the holders' keys became privileged
// credentials no second person reviewed (review193).
func TestWeakeningsScopeMadePrivilegedNamesItsHolders(t *testing.T) {
	t.Parallel()
	got := weakeningsOf(t, keyApprovalOn, made)
	want := `scope "read:reports" made privileged, and client "globex-bi" holds it: its keys and mTLS identities become privileged credentials`
	if !strings.Contains(got, want) {
		t.Errorf("Weakenings = %q; want %q", got, want)
	}
	// Held by no client, a scope made privileged tightens: nothing to list.
	none := func(s string) string {
		return keyApprovalOn(replace("    scopes: [read:reports]\n    limit: {rate: 20/s", "    scopes: [read:users]\n    limit: {rate: 20/s")(s))
	}
	if got := weakeningsOf(t, none, made); got != "" {
		t.Errorf("scope held by no client made privileged: Weakenings = %q; want none", got)
	}
	// Without privileged_key_approval, a privileged scope takes no
	// second person: nothing weakens.
	if got := weakeningsOf(t, same, made); got != "" {
		t.Errorf("with privileged_key_approval off: Weakenings = %q; want none", got)
	}
	// Rules 4 did not hold it: a push of such a release is named apart.
	cur, next := loadPair(t, keyApprovalOn, made)
	if got := WeakeningsUnder(cur, next, 4); len(got) != 0 {
		t.Errorf("WeakeningsUnder(rules 4) = %q; want none", got)
	}
}

// Many holders are counted in one line, not one line each: the list an
// approver reads stays short, and says how many it does not name.
func TestWeakeningsScopeMadePrivilegedCountsManyHolders(t *testing.T) {
	t.Parallel()
	var clients strings.Builder
	for i := range 30 {
		fmt.Fprintf(&clients, "  - id: reader%02d\n    tenant: globex\n    owner: bi@globex.example\n    scopes: [read:reports]\n", i)
	}
	base := func(s string) string { return keyApprovalOn(replace("\nkeys:\n", clients.String()+"\nkeys:\n")(s)) }
	cur, next := loadPair(t, base, made)
	var lines []string
	for _, w := range Weakenings(cur, next) {
		if strings.Contains(w, `scope "read:reports" made privileged`) {
			lines = append(lines, w)
		}
	}
	want := `scope "read:reports" made privileged, and 31 clients hold it (globex-bi, reader00, reader01, reader02, reader03 and 26 more): their keys and mTLS identities become privileged credentials`
	if len(lines) != 1 || lines[0] != want {
		t.Errorf("lines for the scope = %q; want one: %q", lines, want)
	}
}

// global_limits.max_sidecars (M) bounds how many members share a global
// limit: a sidecar's share never falls below what it is among M, so fake
// member records (a stolen sidecar certificate) take at most (M-1)/M of a
// busy sidecar's share. M raised, or the block removed (the default,
// 1000), lets more fakes take more; lowered protects more. Before, either
// was a plain push (review193).
func TestWeakeningsMaxSidecarsRaised(t *testing.T) {
	t.Parallel()
	base := func(s string) string {
		return replace("\nlifecycle:\n", "\nglobal_limits: {max_sidecars: 16}\n\nlifecycle:\n")(s)
	}
	for _, c := range []struct {
		name   string
		change func(string) string
		want   string
	}{
		{"raised", replace("max_sidecars: 16", "max_sidecars: 64"), "global_limits.max_sidecars raised from 16 to 64"},
		{"removed", replace("global_limits: {max_sidecars: 16}\n", ""), "global_limits.max_sidecars raised from 16 to 1000 (removed: the default)"},
		{"lowered", replace("max_sidecars: 16", "max_sidecars: 8"), ""},
		{"kept", same, ""},
	} {
		got := weakeningsOf(t, base, c.change)
		if c.want == "" && strings.Contains(got, "max_sidecars") || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: Weakenings = %q; want %q", c.name, got, c.want)
		}
	}
	// Added where there was none (the default, 1000): lowered.
	if got := weakeningsOf(t, same, base); got != "" {
		t.Errorf("max_sidecars set below the default: Weakenings = %q; want none", got)
	}
}

// loadPair loads the example policy with base applied (cur), then change
// (next).
func loadPair(t *testing.T, base, change func(string) string) (*Document, *Document) {
	t.Helper()
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	was := base(string(raw))
	cur, err := Load("cur", []byte(was))
	if err != nil {
		t.Fatal(err)
	}
	next, err := Load("next", []byte(change(was)))
	if err != nil {
		t.Fatal(err)
	}
	return cur, next
}
