package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// notNumbered is what audit verify and the pack say of a head with no
// count at a store that does not record publishing counted heads
// (collector.CheckCount): the wrong cause for one that does.
const notNumbered = "did not number the heads"

// putUncountedHead puts doc, a head.json with no count, at s's etcd key
// by hand and compacts etcd past it.
func putUncountedHead(t *testing.T, s *putBackStore, doc []byte) {
	t.Helper()
	resp, err := s.cli.Put(t.Context(), etcdsync.NewLayout(s.prefix).AuditHead(), string(doc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.cli.Compact(t.Context(), resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
}

// wantUncountedRolledBack checks that audit verify and evidence pack fail
// s, a counted store with a head with no count at its key, as rolled
// back, and say nothing of a collector that did not number its heads.
func wantUncountedRolledBack(t *testing.T, s *putBackStore) {
	t.Helper()
	r := s.verify(t)
	if r.code != 1 || !strings.Contains(r.stdout, "carries no count") || strings.Contains(r.stdout, notNumbered) {
		t.Errorf("audit verify of a counted store with a head with no count at its key = exit %d, want 1 naming the head without a count, and not %q\n%s%s",
			r.code, notNumbered, r.stdout, r.stderr)
	}
	proof := s.pack(t)
	for _, want := range []string{"Result: FAILED", collector.ProblemRolledBack, "carries no count"} {
		if !strings.Contains(proof, want) {
			t.Errorf("integrity proof of a counted store with a head with no count at its key lacks %q:\n%s", want, proof)
		}
	}
	if strings.Contains(proof, notNumbered) {
		t.Errorf("integrity proof of a counted store says %q, a cause that is not this one:\n%s", notNumbered, proof)
	}
}

// TestVerifyUncountedHeadOfCountedStoreSaysOnlyRolledBack: for a head
// with no count at the key of a store that records publishing counted
// heads there, verify and the pack printed the rolled-back failure and
// also "NOT CHECKED: ... signed by a collector that did not number the
// heads", whose cause is not this one (the anchor reader does not know
// the store is counted). Only the failure is printed now.
func TestVerifyUncountedHeadOfCountedStoreSaysOnlyRolledBack(t *testing.T) {
	t.Parallel()
	s := newPutBackStore(t, false, false)
	doc, err := os.ReadFile(filepath.Join(s.data, "head.json"))
	if err != nil {
		t.Fatal(err)
	}
	putUncountedHead(t, s, doc)
	wantUncountedRolledBack(t, s)
}

// TestVerifyFindsRollbackToBeforeFirstPublication: a store created for a
// collector with --etcd (collector.StoreConfig.PublishesCounted) is
// rolled back to its copy made before its first publication, the key
// deleted and the copy's head.json put there. The copy did not record
// counted heads (the store did so only at its first counted put), so the
// head with no count passed verify and the pack, "not checked". The
// store records it from its creation: both fail it.
func TestVerifyFindsRollbackToBeforeFirstPublication(t *testing.T) {
	t.Parallel()
	const prefix = "/counted"
	endpoints, cli, ctx := etcdWithPolicy(t, prefix)
	tmp := t.TempDir()
	s := &putBackStore{endpoints: endpoints, prefix: prefix, keyPath: filepath.Join(tmp, "collector.key"), data: filepath.Join(tmp, "data"), now: time.Now().UTC(), cli: cli}
	if err := collector.GenerateKey(s.keyPath); err != nil {
		t.Fatal(err)
	}
	key, err := collector.LoadPrivateKey(s.keyPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := collector.OpenStore(s.data, collector.StoreConfig{SigningKey: key, PublishesCounted: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pubs := []collector.HeadPublisher{etcdadmin.New(cli, prefix)}
	if _, err := st.CheckAnchors(ctx, pubs, 10*time.Second, false); err != nil {
		t.Fatal(err)
	}
	event := func(rev int64) {
		t.Helper()
		ev := collector.Event{Time: s.now, Key: prefix + "/events/1", Revision: rev, Actor: "alice", Action: etcdadmin.ActionKeyRevoke, Target: "acmehris1", Reason: "leaked", Ticket: "SEC-9"}
		if err := st.AppendEvents([]collector.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	publish := func() {
		t.Helper()
		head, err := st.SignHead(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PublishChecked(ctx, head, 10*time.Second, pubs); err != nil {
			t.Fatal(err)
		}
	}
	event(41)
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(tmp, "backup")
	copyTree(t, s.data, backup) // before the store's first publication
	publish()
	event(42)
	publish()
	st.Close()

	os.RemoveAll(s.data)
	copyTree(t, backup, s.data)
	doc, err := os.ReadFile(filepath.Join(s.data, "head.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, etcdsync.NewLayout(prefix).AuditHead()); err != nil {
		t.Fatal(err)
	}
	putUncountedHead(t, s, doc)
	wantUncountedRolledBack(t, s)
}

// TestVerifyUncountedHeadOfUncountedStoreNotChecked: a store that never
// recorded counted heads (created by an older release, or without
// --etcd) with a head with no count at its key still passes, verify
// printing "NOT CHECKED:" and the pack "Not checked:" with the cause.
func TestVerifyUncountedHeadOfUncountedStoreNotChecked(t *testing.T) {
	t.Parallel()
	const prefix = "/uncounted"
	endpoints, cli, _ := etcdWithPolicy(t, prefix)
	tmp := t.TempDir()
	s := &putBackStore{endpoints: endpoints, prefix: prefix, keyPath: filepath.Join(tmp, "collector.key"), data: filepath.Join(tmp, "data"), now: time.Now().UTC(), cli: cli}
	if err := collector.GenerateKey(s.keyPath); err != nil {
		t.Fatal(err)
	}
	evidenceStore(t, s.data, s.keyPath, s.now)
	doc, err := os.ReadFile(filepath.Join(s.data, "head.json"))
	if err != nil {
		t.Fatal(err)
	}
	putUncountedHead(t, s, doc)
	r := s.verify(t)
	if r.code != 0 || !strings.Contains(r.stdout, "NOT CHECKED: the head at etcd /uncounted/audit/head") || !strings.Contains(r.stdout, notNumbered) {
		t.Errorf("audit verify of an uncounted store with a head with no count at its key = exit %d, want 0 with NOT CHECKED naming %q\n%s%s", r.code, notNumbered, r.stdout, r.stderr)
	}
	proof := s.pack(t)
	if !strings.Contains(proof, "Not checked: the head at etcd /uncounted/audit/head") || !strings.Contains(proof, notNumbered) || strings.Contains(proof, "FAILED") {
		t.Errorf("integrity proof of an uncounted store with a head with no count at its key: want Not checked naming %q, not FAILED:\n%s", notNumbered, proof)
	}
}
