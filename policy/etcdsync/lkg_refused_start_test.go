package etcdsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestRestartWithRefusedDocumentServesLastGood: a document that does not
// compile sits in etcd (written directly, or pushed by a newer CLI whose
// fields this sidecar does not know) while a sidecar restarts with etcd
// up: an OOM kill, a rolling restart, a node drain with the state volume
// kept. The sidecar before the restart kept the good document in force
// and saved it to the last-known-good file; the restarted one must serve
// that document with etcd's live records (a revocation written since
// included), not refuse every request. Before, its first read found the
// refused document and no good one in memory, so it served nothing
// (503 to every request, /readyz "etcd not read and no last-known-good
// snapshot" with both there) until someone pushed a fixed document.
func TestRestartWithRefusedDocumentServesLastGood(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, cli, a, first := syncedWithFile(t, dir)
	ctx := context.Background()
	if _, err := cli.Put(ctx, etcdsync.DefaultPrefix+"/policy", "version: 1\ntenants: [{id: acme, nope: 1}]\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "refusal", func() bool { return first.Failures() == 1 })
	first.stop() // writes the last-known-good file: the good document
	rev, err := a.RevokeKey(ctx, "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}

	r := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir})
	waitFor(t, 30*time.Second, "the refused document read from etcd", func() bool { return r.Failures() == 1 })
	// The snapshot is swapped in right after the refusal is counted, in
	// the same apply; before the fix none ever was, and this wait ran out.
	waitFor(t, 30*time.Second, "a snapshot in force after the refused document was read (the good document of the last-known-good file, with etcd's live records)",
		func() bool { return r.Ready() && r.store.Load() != nil })
	got := r.atRevision(t, rev)
	good, err := policy.Load("good", examplePolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	if got.Doc.SourceDigest() != good.SourceDigest() || !got.Key([]byte("acmehris1")).Revoked {
		t.Errorf("restarted: document %s (good: %s), acmehris1 revoked %v (etcd revoked it at %d)",
			got.Doc.SourceDigest(), good.SourceDigest(), got.Key([]byte("acmehris1")).Revoked, rev)
	}
	if r.LastError() == "" {
		t.Error("the refused document is not named in LastError")
	}
}
