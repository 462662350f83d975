package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/devetcd"
)

// A policy push that turns lifecycle.privileged_key_approval off went
// through on one operator's word. Through the CLI it is now refused with
// one line naming the change and how to ask for an approval;
// approvals request --policy FILE asks for one, a second person grants
// it, and policy push --approval spends it.
func TestPolicyPushThatWeakensNeedsApprovalCLI(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	run := etcdRun(t, e, "/push-approval-test")
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
	run(0, "bob", "approvals", "grant", id, "--approver", "bob", "--note", "diff read", "--policy", weak)
	run(0, "alice", "policy", "push", weak, "--reason", "loosen", "--approval", id)
	run(0, "alice", "policy", "push", strict, "--reason", "strict again")
	_, stderr = run(1, "alice", "policy", "push", weak, "--reason", "loosen again", "--approval", id)
	if !strings.Contains(stderr, "used up") {
		t.Errorf("second push on the spent grant: stderr %q; want used up", stderr)
	}
}

// approvals request --policy - opened "-" as a file ("open -: no such
// file or directory") where policy push - reads stdin; it reads the
// document from stdin now, refusing an empty or invalid one with a clear
// line. And a request for a document that weakens nothing made an
// approval the push would then refuse ("would not be used"): it is
// refused, saying no approval is needed, and none is made.
func TestApprovalsRequestPolicyFromStdinAndNotNeeded(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	common := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/request-stdin-test", "--actor", "alice", "--reason", "r"}
	strict := lifecycleFile(t, "lifecycle:\n  max_key_age: 87600h\n  rotation_warning: 720h\n  privileged_key_approval: true")
	weak := lifecycleFile(t, "lifecycle:\n  max_key_age: 87600h\n  rotation_warning: 720h\n  privileged_key_approval: false")
	tighter := lifecycleFile(t, "lifecycle:\n  max_key_age: 8760h\n  rotation_warning: 720h\n  privileged_key_approval: true")
	if r := portcullis(t, "", nil, append([]string{"policy", "push", strict}, common...)...); r.code != 0 {
		t.Fatalf("push: %d %s", r.code, r.stderr)
	}
	weakDoc, err := os.ReadFile(weak)
	if err != nil {
		t.Fatal(err)
	}
	request := append([]string{"approvals", "request", "--policy", "-"}, common...)
	r := portcullisStdin(t, string(weakDoc), request...)
	if r.code != 0 || !strings.Contains(r.stdout, "policy push sha256:"+digestHex(weakDoc)) || !strings.Contains(r.stdout, "stdin") {
		t.Errorf("approvals request --policy - with the weak document piped in: exit %d\nstdout: %s\nstderr: %s\nwant an approval for its digest", r.code, r.stdout, r.stderr)
	}
	for _, c := range []struct{ name, in, want string }{
		{"empty", "  \n", "the policy on stdin is empty"},
		{"invalid", "version: 1\nroutes: [\n", "the document to approve does not load"},
	} {
		r := portcullisStdin(t, c.in, request...)
		if r.code == 0 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("approvals request --policy - with %s stdin: exit %d, stderr %q; want one line saying %q", c.name, r.code, r.stderr, c.want)
		}
	}
	r = portcullis(t, "", nil, append([]string{"approvals", "request", "--policy", tighter}, common...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "needs no approval") || !strings.Contains(r.stderr, "no approval was requested") {
		t.Errorf("approvals request --policy for a document that weakens nothing: exit %d, stdout %q, stderr %q; want refused saying no approval is needed", r.code, r.stdout, r.stderr)
	}
	r = portcullis(t, "", nil, "approvals", "list", "--json", "--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/request-stdin-test")
	if n := strings.Count(r.stdout, `"id"`); n != 1 {
		t.Errorf("approvals in etcd after one request that needed one and refused ones: %d\n%s; want 1", n, r.stdout)
	}
}

func digestHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// etcdRun returns a runner of portcullis etcd subcommands (args[0] and
// args[1] name it: "keys rotate") against e under prefix, as actor ("" for
// none), failing t unless it exits want; it returns stdout and stderr.
func etcdRun(t *testing.T, e *devetcd.Server, prefix string) func(want int, actor string, args ...string) (string, string) {
	return func(want int, actor string, args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd := etcdSub(t, args[0]+" "+args[1])
		all := append(append([]string{}, args[2:]...), "--etcd", strings.Join(e.Endpoints(), ","), "--prefix", prefix)
		if actor != "" {
			all = append(all, "--actor", actor)
		}
		if got := cmd.main(all, &out, &errOut); got != want {
			t.Fatalf("portcullis %s = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, want, &out, &errOut)
		}
		return out.String(), errOut.String()
	}
}
