package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// With the roles of the Job, the policy push Job's user
// (portcullis-policy-push) cannot spend an approval: policy push
// --approval puts a use of it under approval-uses/, which the Job grants
// people's roles only (the Job's push never passes --approval). The
// refusal names that grant, the directory and the user, and says to push
// as a person; a person's push of the same document with the same
// approval goes through. Before, it said only that the user "may not use
// prefix /portcullis/default", a prefix it reads and writes policy in.
func TestEtcdRolesPolicyPushApprovalNamesTheMissingGrant(t *testing.T) {
	t.Parallel()
	const prefix = "/portcullis/default"
	r := newRolesRig(t, prefix)
	runAs := func(want int, user string, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		all := append(append([]string{}, args[2:]...), "--etcd", strings.Join(r.e.Endpoints(), ","), "--prefix", prefix,
			"--etcd-user", user, "--etcd-password", "pw-"+user, "--actor", user, "--reason", "roles", "--ticket", "T-1")
		if got := etcdSub(t, args[0]+" "+args[1]).main(all, &out, &errOut); got != want {
			t.Fatalf("portcullis %s as %s = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), user, got, want, &out, &errOut)
		}
		return out.String(), errOut.String()
	}
	strict := lifecycleFile(t, "lifecycle:\n  max_key_age: 87600h\n  rotation_warning: 720h\n  privileged_key_approval: true")
	weak := lifecycleFile(t, "lifecycle:\n  max_key_age: 87600h\n  rotation_warning: 720h\n  privileged_key_approval: false")
	runAs(0, "ops-alice", "policy", "push", strict)
	out, _ := runAs(0, "ops-alice", "approvals", "request", "--policy", weak)
	id := regexp.MustCompile(`apr_[0-9a-f]+`).FindString(out)
	if id == "" {
		t.Fatalf("approvals request --policy: %q; want an approval id", out)
	}
	runAs(0, "ops-bob", "approvals", "grant", id, "--approver", "bob", "--note", "diff read", "--policy", weak)

	_, stderr := runAs(1, "portcullis-policy-push", "policy", "push", weak, "--approval", id)
	for _, want := range []string{"permission denied", prefix + "/approval-uses/", `"portcullis-policy-push"`, "as a person's etcd user"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("policy push --approval as portcullis-policy-push: stderr %q; want it to name %q", stderr, want)
		}
	}
	if strings.Contains(stderr, "may not use prefix") {
		t.Errorf("policy push --approval as portcullis-policy-push: stderr %q; want the missing grant, not the whole prefix", stderr)
	}
	runAs(0, "ops-alice", "policy", "push", weak, "--approval", id)
}
