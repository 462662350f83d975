package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// Commands that print a result exited 0 when stdout could not be written
// (a full disk, a closed pipe), the result lost without a word: policy
// get and history, audit query and verify, tenants top, incident assess,
// alerts list, evidence pack... Every command's stdout is now one writer
// that remembers its first error (stdout.go), and a command that exits 0
// after a failed write exits 1, with one line naming the command and the
// write error. policy diff, which exits 1 on a difference, names the
// failed write too.
func TestResultWriteErrorsExit1(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	etcd := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--timeout", "10s"}
	if r := portcullisWithin(t, 20*time.Second, append([]string{"policy", "push", examplePolicy, "--reason", "r", "--actor", "alice"}, etcd...)...); r.code != 0 {
		t.Fatalf("policy push = exit %d: %s", r.code, r.stderr)
	}
	dir := t.TempDir()
	data, keyFile := filepath.Join(dir, "audit"), filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	appendToStore(t, data, keyFile, 0, 3)
	store := []string{"--data", data, "--public-key", keyFile + ".pub"}
	changed := filepath.Join(dir, "changed.yaml")
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(changed, bytes.Replace(doc, []byte("burst: 400"), []byte("burst: 401"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	packs := t.TempDir()
	if r := portcullisWithin(t, 20*time.Second, "evidence", "pack", "--period", "2026-Q1", "--data", data, "--signing-key", keyFile, "--out", packs, "--policy", examplePolicy); r.code != 0 {
		t.Fatalf("evidence pack = exit %d: %s", r.code, r.stderr)
	}
	pack := filepath.Join(packs, "evidence-2026-Q1")
	for _, args := range [][]string{
		append([]string{"policy", "get"}, etcd...),
		append([]string{"policy", "history"}, etcd...),
		append([]string{"policy", "diff", changed}, etcd...),
		append([]string{"keys", "list"}, etcd...),
		append([]string{"audit", "query"}, store...),
		append([]string{"audit", "verify"}, store...),
		append([]string{"tenants", "top"}, store...),
		append([]string{"events", "list"}, store...),
		append([]string{"alerts", "list"}, store...),
		append([]string{"incident", "assess", "--client", "acme-app", "--policy", examplePolicy}, store...),
		{"evidence", "pack", "--period", "2026-Q1", "--data", data, "--signing-key", keyFile, "--out", t.TempDir(), "--policy", examplePolicy},
		{"evidence", "verify", pack, "--public-key", keyFile + ".pub"},
		{"review", "start", "access", "--period", "2026-Q1", "--data", data, "--policy", examplePolicy, "--out", filepath.Join(dir, "worksheet.md")},
		append([]string{"members", "list"}, etcd...),
		append([]string{"clients", "list"}, etcd...),
		append([]string{"events", "list"}, etcd...),
		{"inject", "-f", "../../deploy/kubernetes/example-app.yaml"},
	} {
		r := portcullisTo(t, "/dev/full", args...)
		name := "portcullis " + commandName(commandTable(), args) + ": "
		if r.code != 1 || !strings.Contains(r.stderr, name) || !strings.Contains(r.stderr, "no space left on device") {
			t.Errorf("portcullis %s > /dev/full = exit %d, stderr %q; want exit 1 and a line from %q naming the write error", strings.Join(args, " "), r.code, r.stderr, name)
		}
	}
}
