package etcdsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestLastKnownGoodSavedWithoutPolicyDocument: the policy document
// leaves etcd, and a revocation and a suspension written meanwhile are
// put in force beside the document in force (TestRevocationWithoutPolicyDocument).
// The last-known-good file must hold them too: before, it kept the last
// state that had a document, so a sidecar restarted while etcd was down
// let the revoked key and the suspended client in again, though it had
// refused them before the restart. Once etcd answers and a document is
// pushed again, the file holds etcd's state.
func TestLastKnownGoodSavedWithoutPolicyDocument(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e, cli, a, first := syncedWithFile(t, dir)
	ctx := context.Background()
	if _, err := a.RevokeKey(ctx, "acmehris1", meta); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, etcdsync.DefaultPrefix+"/policy", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the Syncer to refuse the state without a document", func() bool {
		return strings.Contains(first.LastError(), "no policy document")
	})
	// Written as `keys revoke` writes them, and a suspension's record.
	if _, err := cli.Put(ctx, etcdsync.DefaultPrefix+"/revocations/globexbi1", `{"id":"globexbi1","actor":"sec","reason":"leaked"}`); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Put(ctx, etcdsync.DefaultPrefix+"/suspensions/acme-hris", `{"client":"acme-hris","reason":"incident"}`)
	if err != nil {
		t.Fatal(err)
	}
	inForce := first.atRevision(t, resp.Header.Revision)
	if !inForce.Key([]byte("globexbi1")).Revoked || !inForce.Client("acme-hris").Suspended {
		t.Fatal("the revocation and the suspension written without a document are not in force")
	}
	first.stop() // writes the last-known-good file
	e.Stop()

	r := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir, StartWait: 200 * time.Millisecond})
	waitFor(t, 10*time.Second, "the restart during an etcd outage to serve the file", func() bool { return r.store.Load() != nil })
	got := r.store.Load()
	if !got.Key([]byte("globexbi1")).Revoked || !got.Client("acme-hris").Suspended || !got.Key([]byte("acmehris1")).Revoked || got.Revision != inForce.Revision {
		t.Fatalf("restarted from the file while etcd is down: globexbi1 revoked %v, acme-hris suspended %v, acmehris1 revoked %v, revision %d; "+
			"before the restart all three held at revision %d", got.Key([]byte("globexbi1")).Revoked, got.Client("acme-hris").Suspended,
			got.Key([]byte("acmehris1")).Revoked, got.Revision, inForce.Revision)
	}

	// etcd answers again, still without a document, then one is pushed:
	// the file holds etcd's state, the revocations with it.
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	rev := push(t, a, examplePolicy(t))
	r.atRevision(t, rev)
	waitFor(t, 10*time.Second, "the file to hold the document pushed again", func() bool {
		st, err := etcdsync.ReadLKGState(dir)
		return err == nil && st.Revision >= rev && st.Policy != "" && st.Revocations["globexbi1"] != "" && st.Suspensions["acme-hris"] != ""
	})
	if snap := r.store.Load(); !snap.Key([]byte("globexbi1")).Revoked || !snap.Client("acme-hris").Suspended || !snap.Key([]byte("acmehris1")).Revoked {
		t.Error("with the document pushed again, a revocation or the suspension is lifted")
	}
}

// TestLastKnownGoodTakesRevocationsReadWithoutDocument: a sidecar starts
// on its last-known-good file while etcd answers without a policy
// document; it serves nothing (the state is refused, and nothing is in
// force to add its records to), but the file takes the revocation and the
// suspension it read, so a later restart while etcd is down refuses them.
func TestLastKnownGoodTakesRevocationsReadWithoutDocument(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e, cli, _, first := syncedWithFile(t, dir)
	ctx := context.Background()
	first.stop()
	if _, err := cli.Delete(ctx, etcdsync.DefaultPrefix+"/policy", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, etcdsync.DefaultPrefix+"/revocations/globexbi1", `{"id":"globexbi1","actor":"sec","reason":"leaked"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, etcdsync.DefaultPrefix+"/suspensions/acme-hris", `{"client":"acme-hris","reason":"incident"}`); err != nil {
		t.Fatal(err)
	}
	second := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir})
	waitFor(t, 10*time.Second, "the file to take the revocation and the suspension read", func() bool {
		st, err := etcdsync.ReadLKGState(dir)
		return err == nil && st.Policy != "" && st.Revocations["globexbi1"] != "" && st.Suspensions["acme-hris"] != ""
	})
	if second.store.Load() != nil || !strings.Contains(second.LastError(), "no policy document") {
		t.Errorf("started on the file with etcd answering without a document: snapshot %v, LastError %q; want none, and no policy document",
			second.store.Load() != nil, second.LastError())
	}
	second.stop()
	e.Stop()

	r := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir, StartWait: 200 * time.Millisecond})
	waitFor(t, 10*time.Second, "the restart during an etcd outage to serve the file", func() bool { return r.store.Load() != nil })
	if got := r.store.Load(); !got.Key([]byte("globexbi1")).Revoked || !got.Client("acme-hris").Suspended {
		t.Errorf("restarted from the file while etcd is down: globexbi1 revoked %v, acme-hris suspended %v; want both",
			got.Key([]byte("globexbi1")).Revoked, got.Client("acme-hris").Suspended)
	}
}
