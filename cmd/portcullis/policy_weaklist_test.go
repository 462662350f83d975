package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A push that weakens the two-person controls in more ways than its
// refusal lists (20) said "and N more", and so did the approval.request
// event the approver reads: the approval binds the whole document (its
// SHA-256, on the policy revision it was asked against), so a grant
// covered changes the approver never saw named. The refusal now says
// where the rest is, and policy diff FILE, which the approver runs before
// granting, lists every one (review193).
func TestPolicyDiffListsEveryWeakeningThePushCuts(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	etcd := etcdRun(t, e, "/weaklist-test")
	run := func(want int, args ...string) (string, string) {
		t.Helper()
		if args[1] == "diff" {
			return etcd(want, "", args...)
		}
		return etcd(want, "alice", args...)
	}
	strict := lifecycleFile(t, "lifecycle:\n  max_key_age: 87600h\n  rotation_warning: 720h\n  privileged_key_approval: true")
	run(0, "policy", "push", strict, "--reason", "strict")
	doc, err := os.ReadFile(strict)
	if err != nil {
		t.Fatal(err)
	}
	var keys strings.Builder
	keys.WriteString("keys:\n")
	for i := range 25 {
		fmt.Fprintf(&keys, "  - id: acmeadmx%02d\n    client: acme-admin\n    sha256: %064x\n    created_at: \"2026-01-01T00:00:00Z\"\n", i, i+100)
	}
	weak := filepath.Join(t.TempDir(), "weak.yaml")
	if err := os.WriteFile(weak, bytes.Replace(doc, []byte("keys:\n"), []byte(keys.String()), 1), 0o600); err != nil {
		t.Fatal(err)
	}

	_, stderr := run(1, "policy", "push", weak, "--reason", "many keys")
	if !strings.Contains(stderr, "and 5 more") || !strings.Contains(stderr, "policy diff FILE lists all 25") {
		t.Errorf("push of 25 weakenings: stderr %q; want the first 20, \"and 5 more\" and where all 25 are listed", stderr)
	}
	out, _ := run(1, "policy", "diff", weak)
	var missing []int
	for i := range 25 {
		if !strings.Contains(out, fmt.Sprintf(`key "acmeadmx%02d" added or widened`, i)) {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		t.Errorf("policy diff does not list the weakenings of keys %v", missing)
	}
	if !strings.Contains(out, "weakens the two-person controls of the policy in etcd in 25 ways") {
		t.Errorf("policy diff: %q; want the count of weakenings", out)
	}
	// The list's digest, which an approval of the document binds:
	// approvals show names the same one.
	digest := regexp.MustCompile(`# weakenings sha256 ([0-9a-f]{64})`).FindStringSubmatch(out)
	if digest == nil {
		t.Fatalf("policy diff: %q; want the weakenings' sha256", out)
	}
	req, _ := run(0, "approvals", "request", "--policy", weak, "--reason", "many keys")
	id := regexp.MustCompile(`apr_[0-9a-f]+`).FindString(req)
	if show, _ := etcd(0, "", "approvals", "show", id); !regexp.MustCompile(`(?m)^weakenings sha256:\s+` + digest[1] + `$`).MatchString(show) {
		t.Errorf("approvals show %s: %q; want weakenings sha256 %s, as policy diff printed", id, show, digest[1])
	}
}
