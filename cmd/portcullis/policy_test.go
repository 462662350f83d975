package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"go.yaml.in/yaml/v3"
)

const examplePolicy = "../../examples/policy.yaml"

func TestDispatchPolicyValidate(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte("version: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"policy", "validate", examplePolicy}, 0},
		{[]string{"policy", "validate", broken}, 1},
		{[]string{"policy", "validate"}, 2},
		{[]string{"policy", "validate", "a", "b"}, 2},
		{[]string{"policy", "validate", "--bogus", examplePolicy}, 2},
	} {
		if got := quiet(t, func() int { return dispatch(tt.args) }); got != tt.want {
			t.Errorf("dispatch(%q) = %d, want %d", tt.args, got, tt.want)
		}
	}
}

// quiet runs f with os.Stdout and os.Stderr sent to /dev/null.
func quiet(t *testing.T, f func() int) int {
	t.Helper()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = null, null
	defer func() { os.Stdout, os.Stderr = stdout, stderr }()
	return f()
}

func TestPolicyValidateOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	broken := write("broken.yaml", "version: 2\ncolour: blue\ntenants: [{id: a}, {id: a}]\n")
	dup := write("dup.yaml", "version: 1\ntenants: [{id: a}, {id: a}]\n")
	suspending := write("suspending.yaml", string(suspendingGuesses(t)))
	tests := []struct {
		name       string
		args       []string
		code       int
		out, errs  string
		errsPrefix bool
	}{
		{"example", []string{examplePolicy}, 0, examplePolicy + ": ok (10 routes, 3 clients, 4 keys)\n", "", false},
		// Valid, as it was, and told what it does now
		// (alert.TestContainmentNeedsVerifiedClient).
		{"action on auth_failures", []string{suspending}, 0, suspending + ": ok (10 routes, 3 clients, 4 keys)\n" + suspending +
			`: note: detection rule "token-guessing-client": action suspend on auth_failures acts only on a revoked key used with its secret: a wrong secret under a key id, which is no secret, never suspends or revokes (use notify here, and dead_credential to contain a revoked key in use)` + "\n", "", false},
		{"every problem", []string{broken}, 1, "", broken + ":1: version must be 1, got 2\n" + broken + ":2: field colour not found in Document\n" +
			broken + `:3: duplicate tenant "a" (first defined at line 3)` + "\n", false},
		{"validation problems", []string{dup}, 1, "", dup + `:2: duplicate tenant "a" (first defined at line 2)` + "\n", false},
		{"missing file", []string{filepath.Join(dir, "nope.yaml")}, 1, "", "portcullis policy validate: cannot read policy", true},
		{"no file", nil, 2, "", "portcullis policy validate: missing FILE (see portcullis policy validate --help)\n", false},
	}
	for _, tt := range tests {
		var out, errs bytes.Buffer
		code := policyValidate(tt.args, &out, &errs)
		if code != tt.code {
			t.Errorf("%s: exit %d, want %d (stderr %q)", tt.name, code, tt.code, errs.String())
		}
		if got := out.String(); got != tt.out {
			t.Errorf("%s: stdout %q, want %q", tt.name, got, tt.out)
		}
		got := errs.String()
		if ok := got == tt.errs || tt.errsPrefix && strings.HasPrefix(got, tt.errs); !ok {
			t.Errorf("%s: stderr %q, want %q", tt.name, got, tt.errs)
		}
	}
}

func TestKeysGenerate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	var out, errs bytes.Buffer
	args := []string{"--client", "acme-hris", "--ttl", "24h", "--created-by", "alice", "--ticket", "OPS-7"}
	if code := keysGenerate(args, &out, &errs, now); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs.String())
	}
	text := out.String()
	if !strings.Contains(text, "will not be shown again") {
		t.Errorf("output does not warn that the key is shown once:\n%s", text)
	}
	key := findKey(t, text)
	_, record, ok := strings.Cut(text, "keys:")
	if !ok {
		t.Fatalf("no key record in output:\n%s", text)
	}
	_, record, _ = strings.Cut(record, "\n\n")
	var specs []policy.KeySpec
	if err := yaml.Unmarshal([]byte(record), &specs); err != nil || len(specs) != 1 {
		t.Fatalf("cannot parse key record %q: %v", record, err)
	}
	sum := sha256.Sum256([]byte(key))
	want := policy.KeySpec{
		ID: specs[0].ID, Client: "acme-hris", SHA256: hex.EncodeToString(sum[:]),
		NotBefore: "2026-03-04T05:06:07Z", NotAfter: "2026-03-05T05:06:07Z", CreatedBy: "alice", Ticket: "OPS-7",
		CreatedAt: "2026-03-04T05:06:07Z",
	}
	if specs[0] != want {
		t.Errorf("record = %+v, want %+v", specs[0], want)
	}
	if id, ok := policy.SplitKey([]byte(key)); !ok || string(id) != want.ID {
		t.Errorf("SplitKey(key) = %q, %v; want %q, true", id, ok, want.ID)
	}
}

// findKey returns the one word of text that starts with the key prefix.
func findKey(t *testing.T, text string) string {
	t.Helper()
	for _, w := range strings.Fields(text) {
		if strings.HasPrefix(w, policy.KeyPrefix) {
			return w
		}
	}
	t.Fatalf("no key in output:\n%s", text)
	return ""
}

func TestKeysGenerateUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		nil,
		{"--ttl", "1h"},
		{"--client", "c", "--not-before", "yesterday"},
		{"--client", "c", "--ttl", "-1h"},
		{"--client", "c", "extra"},
		{"--client", "c", "--ttl", "forever"},
	} {
		var out, errs bytes.Buffer
		if code := keysGenerate(args, &out, &errs, time.Now()); code != 2 {
			t.Errorf("keys generate %q: exit %d, want 2", args, code)
		}
		if out.Len() != 0 {
			t.Errorf("keys generate %q printed %q on a usage error", args, out.String())
		}
	}
}

func TestKeysGenerateNotBefore(t *testing.T) {
	t.Parallel()
	var out, errs bytes.Buffer
	args := []string{"--client", "c", "--not-before", "2026-06-01T12:00:00+02:00"}
	if code := keysGenerate(args, &out, &errs, time.Now()); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs.String())
	}
	if got, want := out.String(), `not_before: "2026-06-01T10:00:00Z"`; !strings.Contains(got, want) {
		t.Errorf("output lacks %s:\n%s", want, got)
	}
	if strings.Contains(out.String(), "not_after") {
		t.Errorf("output has not_after without --ttl:\n%s", out.String())
	}
}

// TestPolicyValidateNotesWhatPushRefuses: a document breaking a rule
// policy.CheckPush holds pushes to (a tenant id that is another's
// followed by '.') is valid, as a sidecar loads it (a fleet upgraded onto
// the release that added the rule must not stop), and validate says the
// push refuses it, at its line.
func TestPolicyValidateNotesWhatPushRefuses(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(raw), "tenants:\n", "tenants:\n  - {id: acme.eu, name: Acme Europe}\n", 1)
	line := strings.Count(doc[:strings.Index(doc, "acme.eu")], "\n") + 1
	path := filepath.Join(t.TempDir(), "dot.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	code := policyValidate([]string{path}, &out, &errs)
	want := fmt.Sprintf("%s:%d: note: policy push refuses this: tenant id \"acme.eu\" is tenant \"acme\" followed by '.'", path, line)
	if code != 0 || !strings.HasPrefix(out.String(), path+": ok (") || !strings.Contains(out.String(), want) {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0, ok and %q", code, out.String(), errs.String(), want)
	}
}

// TestPolicyValidateNotesBadIssuerClaims: policy validate said only "ok"
// of the example with its issuer's audience emptied, its tenant_claim or
// client_claim set to a registered claim, or both set to one claim, and
// the sidecar then left the issuer out or answered each of its tokens
// 401. A push refuses each (policy: TestIssuerClaimSettingsRefused);
// validate says so in a note at the file, line, issuer and field, as it
// does of every rule a push refuses of a document a sidecar still loads.
func TestPolicyValidateNotesBadIssuerClaims(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ old, new, want string }{
		{"audiences: [portcullis-demo]", `audiences: [""]`, `issuer "demo-idp": audiences: an empty audience`},
		{"tenant_claim: tenant", "tenant_claim: iat", `issuer "demo-idp": tenant_claim "iat" is the registered claim "iat"`},
		{"client_claim: client_id", "client_claim: iss", `issuer "demo-idp": client_claim "iss" is the registered claim "iss"`},
		{"client_claim: client_id", "client_claim: tenant", `issuer "demo-idp": client_claim "tenant" is the tenant_claim "tenant"`},
	} {
		doc := strings.Replace(string(raw), tt.old, tt.new, 1)
		line := strings.Count(doc[:strings.Index(doc, tt.new)], "\n") + 1
		path := filepath.Join(t.TempDir(), "issuer.yaml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errs bytes.Buffer
		code := policyValidate([]string{path}, &out, &errs)
		want := fmt.Sprintf("%s:%d: note: policy push refuses this: %s", path, line, tt.want)
		if code != 0 || errs.Len() != 0 || !strings.Contains(out.String(), want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and %q", tt.new, code, out.String(), errs.String(), want)
		}
	}
}
