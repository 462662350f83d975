package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/evidence"
	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// approveRig is a pack made from a real store and the example policy, and
// a real etcd to record approvals in.
type approveRig struct {
	dir, keyPath, file string
	admin              *etcdadmin.Admin
	common             []string // --etcd, --prefix
}

func newApproveRig(t *testing.T, prefix string) *approveRig {
	t.Helper()
	tmp := t.TempDir()
	keyPath, data, out := filepath.Join(tmp, "collector.key"), filepath.Join(tmp, "data"), filepath.Join(tmp, "out")
	if err := collector.GenerateKey(keyPath); err != nil {
		t.Fatal(err)
	}
	evidenceStore(t, data, keyPath, time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC))
	var stdout, stderr bytes.Buffer
	args := []string{"--period", "2026-05", "--data", data, "--out", out, "--policy", examplePolicy, "--signing-key", keyPath}
	if code := evidencePack(args, &stdout, &stderr); code != 0 {
		t.Fatalf("evidence pack = exit %d\n%s%s", code, &stdout, &stderr)
	}
	e, admin := etcdAdmin(t, prefix)
	return &approveRig{dir: filepath.Join(out, "evidence-2026-05"), keyPath: keyPath, file: "APIAuth-ScopeRoleMatrix-2026-05.csv",
		admin: admin, common: []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", prefix}}
}

// approve runs evidence approve of the scope matrix with extra flags.
func (r *approveRig) approve(t *testing.T, want int, extra ...string) string {
	t.Helper()
	args := append([]string{r.dir, "--file", r.file, "--reviewer", "rita", "--status", "approved", "--note", "matches",
		"--signing-key", r.keyPath}, r.common...)
	var stdout, stderr bytes.Buffer
	if code := etcdSub(t, "evidence approve").main(append(args, extra...), &stdout, &stderr); code != want {
		t.Fatalf("evidence approve = exit %d, want %d\n%s%s", code, want, &stdout, &stderr)
	}
	return stdout.String() + stderr.String()
}

// approvals returns the evidence.approve events in etcd.
func (r *approveRig) approvals(t *testing.T) []etcdadmin.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := r.admin.ListEvents(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var out []etcdadmin.Event
	for _, ev := range evs {
		if ev.Action == etcdadmin.ActionEvidenceApprove {
			out = append(out, ev)
		}
	}
	return out
}

// manifest reads the manifest's three files, and fails t when the folder
// holds a file staged and left behind (a dot-file).
func (r *approveRig) manifest(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, n := range []string{evidence.ManifestCSV, evidence.ManifestJSON, evidence.ManifestSig} {
		data, err := os.ReadFile(filepath.Join(r.dir, n))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("%s left in the pack folder", e.Name())
		}
	}
	return b.String()
}

// TestEvidenceApproveRefusedLeavesTheManifest: the approval event refused
// by etcd (the policy's lifecycle requires a ticket, none given) leaves
// the manifest byte for byte as it was and no staged file in the folder;
// with the ticket, both the event (with the file's digest) and the
// re-signed manifest are written.
func TestEvidenceApproveRefusedLeavesTheManifest(t *testing.T) {
	t.Parallel()
	r := newApproveRig(t, "/approve-refused")
	doc, err := os.ReadFile(lifecycleFile(t, "lifecycle:\n  max_key_age: 720h\n  rotation_warning: 168h\n  require_ticket: true"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.admin.PushPolicy(context.Background(), doc, 0, etcdadmin.Meta{Actor: "alice", Ticket: "CHG-1"}); err != nil {
		t.Fatal(err)
	}
	before := r.manifest(t)
	if out := r.approve(t, 1); !strings.Contains(out, "--ticket") || strings.Count(out, "\n") != 1 {
		t.Errorf("evidence approve without --ticket said %q, want one line naming --ticket", out)
	}
	if r.manifest(t) != before {
		t.Error("the manifest changed though the approval event was refused")
	}
	if evs := r.approvals(t); len(evs) != 0 {
		t.Errorf("approval events after a refused approve: %+v", evs)
	}

	r.approve(t, 0, "--ticket", "AUD-1")
	if r.manifest(t) == before {
		t.Error("the manifest was not re-signed by an approve that succeeded")
	}
	key, err := collector.LoadPrivateKey(r.keyPath)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := evidence.CheckApproval(r.dir, r.file, key)
	if err != nil || rows.ReviewStatus != evidence.StatusApproved {
		t.Fatalf("the approved row: %+v, %v", rows, err)
	}
	evs := r.approvals(t)
	if len(evs) != 1 || evs[0].Target != r.file || evs[0].Details["sha256"] != rows.SHA256 || evs[0].Ticket != "AUD-1" {
		t.Errorf("approval events %+v, want one for %s with its digest %s", evs, r.file, rows.SHA256)
	}
}

// TestEvidenceApproveOfAPackChangedMeanwhile: the pack changed between
// evidence approve's first check and the approval (an evidence file
// edited). The approval event was written before the manifest was signed
// again, which then refused the pack: the trail held an approval the
// signed manifest never got. The pack is now checked again under its lock
// before the event is written, and nothing is written.
func TestEvidenceApproveOfAPackChangedMeanwhile(t *testing.T) {
	r := newApproveRig(t, "/approve-changed")
	approveChecked = func() {
		if err := os.WriteFile(filepath.Join(r.dir, r.file), []byte("forged\n"), 0o644); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { approveChecked = nil })
	if out := r.approve(t, 1); !strings.Contains(out, "does not verify") {
		t.Errorf("evidence approve of a pack changed meanwhile said %q, want it to say the pack does not verify", out)
	}
	if evs := r.approvals(t); len(evs) != 0 {
		t.Errorf("approval events for a pack that did not verify: %+v", evs)
	}
}

// TestApproveWithoutAnswerSaysSo: evidence approve whose event write gets
// no answer (a proxy forwards it to etcd, which applies it, and drops the
// answer) said only "context deadline exceeded". It now says the write
// may or may not have been applied and how to check before running it
// again; the manifest is not re-signed.
func TestApproveWithoutAnswerSaysSo(t *testing.T) {
	t.Parallel()
	r := newApproveRig(t, "/approve-lost")
	endpoint := strings.TrimPrefix(r.common[1], "http://")
	r.common[1] = etcdtest.LostAnswerProxy(t, endpoint)
	before := r.manifest(t)
	out := r.approve(t, 1, "--ticket", "AUD-1", "--timeout", "2s")
	if !strings.Contains(out, "may or may not have been applied") || !strings.Contains(out, "portcullis events list") {
		t.Errorf("evidence approve whose answer was lost said %q; want it to say the write may or may not have been applied and to check with portcullis events list", out)
	}
	if r.manifest(t) != before {
		t.Error("the manifest was re-signed though the approval's answer never came")
	}
	if evs := r.approvals(t); len(evs) != 1 {
		t.Errorf("approval events: %+v; want the one etcd applied", evs)
	}
}
