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

// A key record the sidecars leave out, here because a later push removed
// its client from the policy, authenticates nothing; `keys list` showed
// it as valid all the same, and `keys show` gave no hint. It is now
// "skipped by the sidecars" in the list, and show and --json say why.
func TestKeysListSaysSkippedRecords(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	r := etcdRunner{t: t, common: []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/keys-skipped"}}
	run := func(args ...string) string { t.Helper(); return r.run(0, args...) }
	run("policy", "push", examplePolicy, "--reason", "first")
	var created struct {
		Record struct{ ID string } `json:"record"`
	}
	json.Unmarshal([]byte(run("keys", "create", "--client", "globex-bi", "--ttl", "720h", "--json")), &created)
	id := created.Record.ID
	if id == "" {
		t.Fatal("keys create named no key")
	}
	if out := run("keys", "list", "--client", "globex-bi"); !regexp.MustCompile(`(?m)^` + id + `\s+globex-bi\s+valid\s`).MatchString(out) {
		t.Fatalf("keys list before the client went = %q, want %s valid", out, id)
	}

	doc, _ := os.ReadFile(examplePolicy)
	gone := regexp.MustCompile(`(?m)^  - id: globex-bi\n(    .*\n)*`).ReplaceAll(doc, nil)
	gone = regexp.MustCompile(`(?m)^  - id: globexbi1\n(    .*\n)*`).ReplaceAll(gone, nil)
	if bytes.Contains(gone, []byte("globex-bi")) {
		t.Fatalf("the client is still in the edited policy:\n%s", gone)
	}
	edited := filepath.Join(t.TempDir(), "p.yaml")
	os.WriteFile(edited, gone, 0o600)
	run("policy", "push", edited, "--reason", "globex-bi retired")

	out := run("keys", "list")
	if !regexp.MustCompile(`(?m)^` + id + `\s+globex-bi\s+skipped by the sidecars\s`).MatchString(out) {
		t.Errorf("keys list = %q, want %s skipped by the sidecars", out, id)
	}
	if !regexp.MustCompile(`(?m)^acmehris1\s+acme-hris\s+valid\s`).MatchString(out) {
		t.Errorf("keys list = %q, want acmehris1 still valid", out)
	}
	if out := run("keys", "show", id); !strings.Contains(out, `key "`+id+`": unknown client "globex-bi" (the sidecars leave the record out`) {
		t.Errorf("keys show = %q, want why it is skipped", out)
	}
	var listed []struct{ ID, Skipped string }
	json.Unmarshal([]byte(run("keys", "list", "--json")), &listed)
	for _, k := range listed {
		if want := k.ID == id; want != (k.Skipped != "") {
			t.Errorf("keys list --json: %s skipped %q", k.ID, k.Skipped)
		}
	}
}
