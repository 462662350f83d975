package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestEvidencePackClearsPushAndKeyText: a policy pushed to a real etcd by
// a writer that does not clear an operator's free text (the etcdadmin
// library, a CLI from before the rules, another writer), its actor and
// ticket holding "password ...", and a key of its document whose
// created_by and ticket do: the pack printed each as stored, in the
// authentication standard, the token lifecycle log, the key age rows,
// the rate limit export and the index. It prints them cleared by the
// CLI's rules (collector.RedactText), as it prints an event's actor,
// reason and ticket.
func TestEvidencePackClearsPushAndKeyText(t *testing.T) {
	t.Parallel()
	const prefix = "/evidence-pushtext-test"
	endpoints, cli, ctx := etcdWithPolicy(t, prefix)
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	secretDoc := strings.Replace(string(doc), "created_by: demo\n    ticket: DEMO-1",
		"created_by: bob password keyownerword\n    ticket: SEC-1 password keyticketword", 1)
	if secretDoc == string(doc) {
		t.Fatal("the example policy no longer has the key record this test edits")
	}
	meta := etcdadmin.Meta{Actor: "alice password pushactorword", Ticket: "CHG-2 password pushticketword", Reason: "password pushreasonword"}
	if _, err := etcdadmin.New(cli, prefix).PushPolicy(ctx, []byte(secretDoc), 0, meta); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	keyPath, data, out := filepath.Join(tmp, "collector.key"), filepath.Join(tmp, "data"), filepath.Join(tmp, "out")
	if err := collector.GenerateKey(keyPath); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	evidenceStore(t, data, keyPath, now)
	from, to := now.AddDate(0, 0, -1).Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly)
	var stdout, stderr bytes.Buffer
	args := []string{"--from", from, "--to", to, "--data", data, "--out", out, "--etcd", endpoints,
		"--prefix", prefix, "--signing-key", keyPath, "--retention", "400d"}
	if code := evidencePack(args, &stdout, &stderr); code != 0 {
		t.Fatalf("evidence pack = exit %d\n%s%s", code, &stdout, &stderr)
	}
	period := from + "_" + to
	dir := filepath.Join(out, "evidence-"+period)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		for _, s := range []string{"keyownerword", "keyticketword", "pushactorword", "pushticketword", "pushreasonword"} {
			if strings.Contains(string(b), s) {
				t.Errorf("%s holds %q", e.Name(), s)
			}
		}
	}
	// Scanned as etcd holds it, before it is printed cleared: no event of
	// the trail carries this push, and the scan of the printed files
	// meets no credential (TestEvidencePackClearsPushAndKeyText).
	scan, err := os.ReadFile(filepath.Join(dir, "APILogging-CredentialScan-"+period+".md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Matching a credential pattern: 2.", "Result: FAIL",
		"| \"policy push\" | secret in prose or a credential's pair |", "| \"key acmehris1 of the policy in force\" | secret in prose or a credential's pair |"} {
		if !strings.Contains(string(scan), want) {
			t.Errorf("credential scan lacks %q:\n%s", want, scan)
		}
	}
	if !strings.Contains(stderr.String()+stdout.String(), "2 texts of the policy's pushes and keys hold a credential as etcd holds them") {
		t.Errorf("the pack's warning does not name the policy texts:\n%s%s", &stdout, &stderr)
	}
	// Printed cleared, not left out.
	md, err := os.ReadFile(filepath.Join(dir, "APIAuth-AuthenticationStandard-"+period+".md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"by alice password \\[REDACTED\\] (ticket CHG-2 password \\[REDACTED\\])", "| bob password \\[REDACTED\\] |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("authentication standard lacks %q:\n%s", want, md)
		}
	}
}
