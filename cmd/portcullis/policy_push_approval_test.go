package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// A policy push that turns lifecycle.privileged_key_approval off went
// through on one operator's word. Through the CLI it is now refused with
// one line naming the change and how to ask for an approval;
// approvals request --policy FILE asks for one, a second person grants
// it, and policy push --approval spends it.
func TestPolicyPushThatWeakensNeedsApprovalCLI(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	run := func(want int, actor string, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd := etcdSub(t, args[0]+" "+args[1])
		all := append(append([]string{}, args[2:]...), "--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/push-approval-test", "--actor", actor)
		if got := cmd.main(all, &out, &errOut); got != want {
			t.Fatalf("portcullis %s = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, want, &out, &errOut)
		}
		return out.String(), errOut.String()
	}
	strict := lifecycleFile(t, "lifecycle:\n  max_key_age: 87600h\n  rotation_warning: 720h\n  privileged_key_approval: true")
	weak := lifecycleFile(t, "lifecycle:\n  max_key_age: 87600h\n  rotation_warning: 720h\n  privileged_key_approval: false")
	run(0, "alice", "policy", "push", strict, "--reason", "strict")

	_, stderr := run(1, "alice", "policy", "push", weak, "--reason", "loosen")
	if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "privileged_key_approval turned off") || !strings.Contains(stderr, "approvals request --policy FILE") || !strings.Contains(stderr, "--approval ID") {
		t.Errorf("push turning privileged_key_approval off: stderr %q; want one line naming the change, approvals request --policy and --approval", stderr)
	}
	out, _ := run(0, "alice", "approvals", "request", "--policy", weak, "--reason", "loosen")
	id := regexp.MustCompile(`apr_[0-9a-f]+`).FindString(out)
	if id == "" || !strings.Contains(out, "policy push sha256:") || !strings.Contains(out, "--approval "+id) {
		t.Fatalf("approvals request --policy: %q; want the id, the document's route and the push to run", out)
	}
	_, stderr = run(1, "alice", "approvals", "grant", id, "--approver", "alice")
	if !strings.Contains(stderr, "two-person rule") {
		t.Errorf("grant by the requester: stderr %q; want refused (two-person rule)", stderr)
	}
	run(0, "bob", "approvals", "grant", id, "--approver", "bob", "--note", "diff read")
	run(0, "alice", "policy", "push", weak, "--reason", "loosen", "--approval", id)
	run(0, "alice", "policy", "push", strict, "--reason", "strict again")
	_, stderr = run(1, "alice", "policy", "push", weak, "--reason", "loosen again", "--approval", id)
	if !strings.Contains(stderr, "used up") {
		t.Errorf("second push on the spent grant: stderr %q; want used up", stderr)
	}
}
