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
