package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// A push approval binds the SHA-256 of the list of what its document
// weakens (weakens_sha256), which the push and the evidence pack check;
// the grant did not. Here the list grows between the request and the
// grant (a policy history entry put by hand holds GET /v1/reports/{id}
// with a scope, which the document puts back public): the approver reads
// the request's one weakening and granted it all the same. approvals
// grant now takes the document (--policy FILE), computes the list again
// and refuses the grant, naming both digests; a grant without the
// document is refused, and one of the document whose list is the bound
// one goes through.
func TestGrantRefusesAPushApprovalWhoseWeakeningListMoved(t *testing.T) {
	t.Parallel()
	e, cli := etcdClient(t)
	const prefix = "/grant-weaklist-test"
	run := etcdRun(t, e, prefix)
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	const route = "  - {method: GET, path: \"/v1/reports/{id}\", class: standard, scopes: [read:reports]}\n"
	strict := strings.Replace(string(doc), "privileged_key_approval: false", "privileged_key_approval: true", 1)
	held := strings.Replace(strict, route, "", 1)
	next := strings.Replace(strings.Replace(held, "privileged_key_approval: true", "privileged_key_approval: false", 1),
		"  - {method: POST, path: /v1/integrations,", strings.Replace(route, "scopes: [read:reports]", "public: true", 1)+"  - {method: POST, path: /v1/integrations,", 1)
	dir := t.TempDir()
	heldFile, nextFile := filepath.Join(dir, "held.yaml"), filepath.Join(dir, "next.yaml")
	for f, d := range map[string]string{heldFile: held, nextFile: next} {
		if err := os.WriteFile(f, []byte(d), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run(0, "alice", "policy", "push", heldFile, "--reason", "held")
	request := func() string {
		t.Helper()
		out, _ := run(0, "alice", "approvals", "request", "--policy", nextFile, "--reason", "loosen", "--json")
		var ap etcdsync.Approval
		if err := json.Unmarshal([]byte(out), &ap); err != nil || ap.WeakeningsDigest == "" {
			t.Fatalf("approvals request --policy --json: %q (%v); want a record binding a weakening list", out, err)
		}
		return ap.ID + " " + ap.WeakeningsDigest
	}
	id, bound, _ := strings.Cut(request(), " ")
	entry, _ := json.Marshal(map[string]string{"time": "2026-01-01T00:00:00Z", "actor": "mallory", "digest": "x", "document": strict})
	if _, err := cli.Put(context.Background(), etcdsync.NewLayout(prefix).History(1), string(entry)); err != nil {
		t.Fatal(err)
	}
	_, stderr := run(1, "bob", "approvals", "grant", id, "--approver", "bob", "--note", "diff read", "--policy", nextFile)
	other := regexp.MustCompile(`[0-9a-f]{64}`).FindAllString(strings.ReplaceAll(stderr, bound, ""), -1)
	if !strings.Contains(stderr, bound) || len(other) != 1 || !strings.Contains(stderr, "/v1/reports/{id}") {
		t.Errorf("grant of a push approval whose weakening list grew since its request: stderr %q; want refused naming the bound digest %s, the list's digest now and the route's weakening", stderr, bound)
	}
	_, stderr = run(1, "bob", "approvals", "grant", id, "--approver", "bob", "--note", "diff read")
	if !strings.Contains(stderr, "--policy FILE") {
		t.Errorf("grant of a push approval without its document: stderr %q; want refused, naming --policy FILE", stderr)
	}
	id, _, _ = strings.Cut(request(), " ")
	run(0, "bob", "approvals", "grant", id, "--approver", "bob", "--note", "both read", "--policy", nextFile)
	run(0, "alice", "policy", "push", nextFile, "--reason", "loosen", "--approval", id)
}
