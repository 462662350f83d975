package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// lifecycleFile writes the example policy with the lifecycle section
// given, for the commands to push.
func lifecycleFile(t *testing.T, section string) string {
	t.Helper()
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(doc, []byte("lifecycle:\n"))
	j := bytes.Index(doc[i:], []byte("\n\n"))
	if i < 0 || j < 0 {
		t.Fatal("the example policy has no lifecycle section")
	}
	out := append(append(append([]byte(nil), doc[:i]...), section...), doc[i+j:]...)
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The lifecycle policy through the CLI (issue 20): require_ticket refuses
// keys create, rotate and revoke, clients suspend and policy push without --ticket
// with one line naming the flag; keys create defaults --ttl to
// max_key_age and refuses a longer one; keys list --expiring shows the
// keys expiring in the window with their ages against the policy.
func TestKeysLifecyclePolicy(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	common := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/lifecycle-test", "--actor", "alice"}
	run := func(want int, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd := etcdSub(t, args[0]+" "+args[1])
		all := append(append([]string{}, args[2:]...), common...)
		if !cmd.change {
			all = all[:len(all)-2] // no --actor
		}
		if got := cmd.main(all, &out, &errOut); got != want {
			t.Fatalf("portcullis %s = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, want, &out, &errOut)
		}
		return out.String(), errOut.String()
	}
	policyFile := lifecycleFile(t, "lifecycle:\n  max_key_age: 720h\n  rotation_warning: 168h\n  require_ticket: true")
	run(0, "policy", "push", policyFile, "--reason", "lifecycle", "--ticket", "CHG-1")

	for _, args := range [][]string{
		{"keys", "create", "--client", "globex-bi"},
		{"keys", "revoke", "globexbi1", "--reason", "leaked"},
		{"keys", "rotate", "globexbi1", "--overlap", "1h"},
		{"clients", "suspend", "acme-hris", "--for", "1h", "--reason", "abuse"},
		{"policy", "push", policyFile, "--reason", "again"},
	} {
		_, stderr := run(1, args...)
		if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--ticket") || !strings.Contains(stderr, "require_ticket") {
			t.Errorf("%s without --ticket: stderr %q, want one line naming --ticket and require_ticket", args, stderr)
		}
	}

	_, stderr := run(1, "keys", "create", "--client", "globex-bi", "--ttl", "31d", "--ticket", "CHG-2")
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--ttl") || !strings.Contains(stderr, "max_key_age") {
		t.Errorf("keys create --ttl 31d: stderr %q, want one line naming --ttl and max_key_age", stderr)
	}
	out, _ := run(0, "keys", "create", "--client", "globex-bi", "--ticket", "CHG-3", "--json")
	var created struct {
		Record map[string]any `json:"record"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	rec := created.Record
	if rec["not_after"] == nil || rec["created_at"] == nil {
		t.Fatalf("keys create record %v, want not_after (the default ttl) and created_at", rec)
	}
	short, _ := run(0, "keys", "create", "--client", "acme-hris", "--ttl", "2d", "--ticket", "CHG-4", "--json")
	shortID := regexp.MustCompile(`"id": "([a-z0-9]+)"`).FindStringSubmatch(short)[1]
	newID := rec["id"].(string)

	list, _ := run(0, "keys", "list", "--expiring", "30d")
	if !strings.Contains(list, newID) || !strings.Contains(list, shortID) || !strings.Contains(list, "max_key_age 30d") {
		t.Errorf("keys list --expiring 30d = %q, want both new keys and the policy's max age", list)
	}
	// The document's keys were made 2026-01-01: over a 30-day max_key_age.
	if !regexp.MustCompile(`globexbi1 +globex-bi +\d+d\S* +30d .* max_key_age .*over max_key_age: refused`).MatchString(list) {
		t.Errorf("keys list --expiring 30d = %q, want globexbi1 over its max age", list)
	}
	if strings.Index(list, shortID) > strings.Index(list, newID) {
		t.Errorf("keys list --expiring = %q, want the soonest first", list)
	}
	week, _ := run(0, "keys", "list", "--expiring", "7d")
	if strings.Contains(week, newID) || !strings.Contains(week, shortID) {
		t.Errorf("keys list --expiring 7d = %q, want the 2-day key and not the 30-day one", week)
	}
	run(2, "keys", "list", "--expiring", "-1d")
}
