package etcdsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestEmptiedEtcdKeepsRevocations: etcd loses everything under the
// prefix (a wiped or replaced cluster the policy was not yet pushed to
// again). A state without a policy document is refused whole: the
// snapshot in force, its revocations and suspensions included, stays.
// Before, the last good document was compiled with the empty state's live
// records, so a revoked key of the document worked again and a suspended
// client was let back in.
func TestEmptiedEtcdKeepsRevocations(t *testing.T) {
	t.Parallel()
	cli, prefix, a, r := newDeployment(t)
	r.atRevision(t, 1) // the first snapshot: the Store holds none before it
	ctx := context.Background()
	if _, err := a.RevokeKey(ctx, "acmehris1", meta); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Suspend(ctx, "globex-bi", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	var before *policy.Snapshot
	waitFor(t, 10*time.Second, "the revocation and the suspension in force", func() bool {
		before = r.store.Load()
		return before.Key([]byte("acmehris1")).Revoked && before.Client("globex-bi").Suspended
	})
	if _, err := cli.Delete(ctx, prefix+"/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the Syncer to refuse the state without a document", func() bool {
		return strings.Contains(r.LastError(), "no policy document")
	})
	snap := r.store.Load()
	if !snap.Key([]byte("acmehris1")).Revoked {
		t.Error("a revoked key of the document works again once etcd is empty")
	}
	if !snap.Client("globex-bi").Suspended {
		t.Error("a suspended client is let back in once etcd is empty")
	}
	if snap.Digest != before.Digest {
		t.Error("the snapshot in force changed for a state without a policy document")
	}
}

// TestRevocationWithoutPolicyDocument: the policy document alone leaves
// etcd (`etcdctl del --prefix <prefix>/policy`, meant for the history,
// takes it too), and the state is refused for want of one; a revocation
// and a suspension written meanwhile are put in force all the same, beside
// those in force: the state lifts none. Before, they waited for the next
// push of a document, without bound, on every sidecar.
func TestRevocationWithoutPolicyDocument(t *testing.T) {
	t.Parallel()
	cli, prefix, a, r := newDeployment(t)
	r.atRevision(t, 1) // the first snapshot: the Store holds none before it
	ctx := context.Background()
	if _, err := a.RevokeKey(ctx, "acmehris1", meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the first revocation in force", func() bool { return r.store.Load().Key([]byte("acmehris1")).Revoked })
	if _, err := cli.Delete(ctx, prefix+"/policy", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the Syncer to refuse the state without a document", func() bool {
		return strings.Contains(r.LastError(), "no policy document")
	})
	// Written as `keys revoke` writes them, and a suspension's record.
	if _, err := cli.Put(ctx, prefix+"/revocations/globexbi1", `{"id":"globexbi1","actor":"sec","reason":"leaked"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, prefix+"/revocations/acmehris1"); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Put(ctx, prefix+"/suspensions/acme-hris", `{"client":"acme-hris","reason":"incident"}`)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.Revision() < resp.Header.Revision || !r.store.Load().Key([]byte("globexbi1")).Revoked || !r.store.Load().Client("acme-hris").Suspended {
		if time.Now().After(deadline) {
			snap := r.store.Load()
			t.Fatalf("no policy document in etcd: globexbi1 revoked %v, acme-hris suspended %v at snapshot revision %d (etcd at %d); want both", snap.Key([]byte("globexbi1")).Revoked, snap.Client("acme-hris").Suspended, snap.Revision, resp.Header.Revision)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !r.store.Load().Key([]byte("acmehris1")).Revoked {
		t.Error("a revocation in force was lifted by a state without a policy document")
	}
	if !strings.Contains(r.LastError(), "no policy document") {
		t.Errorf("LastError() = %q, want it to say there is no policy document", r.LastError())
	}
}
