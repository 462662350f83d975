package main

import (
	"regexp"
	"strings"
	"testing"
)

// keys rotate of a key whose client holds a privileged scope made a new
// privileged credential on one operator's word, where keys create for
// that client needs a second person's approval (documented as a
// limitation). It now needs an approval of its own kind, a "keys rotate"
// grant for the client (approvals show names it so), named with
// --approval, and spent by the rotation; a "keys create" grant is
// refused, naming the kind to request.
func TestKeysRotateOfAPrivilegedKeyNeedsApprovalCLI(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	run := etcdRun(t, e, "/rotate-approval-test")
	grant := func(route string) string {
		t.Helper()
		out, _ := run(0, "alice", "approvals", "request", "--client", "acme-admin", "--route", route, "--reason", "console key")
		id := regexp.MustCompile(`apr_[0-9a-f]+`).FindString(out)
		out, _ = run(0, "bob", "approvals", "grant", id, "--approver", "bob", "--note", "ok")
		if want := "the requester runs: portcullis " + route + " "; !strings.Contains(out, want) {
			t.Errorf("approvals grant of a %s approval: %q; want %q, not the client's header", route, out, want)
		}
		return id
	}
	strict := lifecycleFile(t, "lifecycle:\n  max_key_age: 87600h\n  rotation_warning: 720h\n  privileged_key_approval: true")
	run(0, "alice", "policy", "push", strict, "--reason", "strict")
	out, _ := run(0, "alice", "keys", "create", "--client", "acme-admin", "--approval", grant("keys create"), "--reason", "console")
	key := regexp.MustCompile(`id ([a-z0-9]+), valid`).FindStringSubmatch(out)
	if key == nil {
		t.Fatalf("keys create: %q; want the key's id", out)
	}

	_, stderr := run(1, "alice", "keys", "rotate", key[1], "--overlap", "1h", "--reason", "rotate")
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `approvals request --client acme-admin --route "keys rotate"`) || !strings.Contains(stderr, "--approval") {
		t.Errorf("keys rotate of acme-admin's key without an approval: stderr %q; want one line saying how to ask for one", stderr)
	}
	_, stderr = run(1, "alice", "keys", "rotate", key[1], "--overlap", "1h", "--reason", "rotate", "--approval", grant("keys create"))
	if !strings.Contains(stderr, `granted for "keys create"`) || !strings.Contains(stderr, `--route "keys rotate"`) {
		t.Errorf("keys rotate with a keys create approval: stderr %q; want it refused, naming the keys rotate kind", stderr)
	}
	id := grant("keys rotate")
	if out, _ := run(0, "", "approvals", "show", id); !regexp.MustCompile(`(?m)^route:\s+keys rotate$`).MatchString(out) {
		t.Errorf("approvals show of a rotation approval: %q; want route: keys rotate", out)
	}
	out, _ = run(0, "alice", "keys", "rotate", key[1], "--overlap", "1h", "--reason", "rotate", "--approval", id)
	if !strings.Contains(out, "the old key "+key[1]+" stays valid for 1h") {
		t.Errorf("keys rotate with a granted approval: %q", out)
	}
}
