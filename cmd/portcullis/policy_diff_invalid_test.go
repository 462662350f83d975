package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyDiffSaysTheFileIsInvalid: policy diff of a file that does not
// validate printed the text difference and exited 1, as for any change,
// so a file that push would refuse read as a change ready to push. It now
// says the file is not a valid policy, with each problem as policy
// validate prints it, prints no difference and exits 1.
func TestPolicyDiffSaysTheFileIsInvalid(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	etcd := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--timeout", "10s"}
	if r := portcullis(t, "", nil, append([]string{"policy", "push", examplePolicy, "--reason", "r", "--actor", "alice"}, etcd...)...); r.code != 0 {
		t.Fatalf("policy push = exit %d, stderr %q", r.code, r.stderr)
	}
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(doc), "id: acme\n", "id: Acme Corp\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := portcullis(t, "", nil, append([]string{"policy", "diff", bad}, etcd...)...)
	want := "portcullis policy diff: " + bad + " is not a valid policy"
	if r.code != 1 || !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, bad+":") || !strings.Contains(r.stderr, `"Acme Corp" must match`) || r.stdout != "" {
		t.Errorf("policy diff of an invalid file = exit %d, stdout %q, stderr %q; want exit 1, no difference, and %q with the problem at its line", r.code, r.stdout, r.stderr, want)
	}
}
