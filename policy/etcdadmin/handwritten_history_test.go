package etcdadmin

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A policy push's event spoke for every history entry written at its
// revision: a transaction of the operator's etcd role holding what a push
// writes (the policy, its entry, its policy.push event, verified) and a
// rewrite of an older entry left the rewrite out of the trail, and the
// evidence pack reads that entry as the document in force then. Only
// the push's own entry, History(revision), is spoken for now.
func TestFollowFlagsOldHistoryEntryRewrittenBesideAPush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	doc := examplePolicy(t)
	first := push(t, a, doc)
	f := follow(t, a, 0)

	resp, err := cli.Get(ctx, k.Policy())
	if err != nil {
		t.Fatal(err)
	}
	rev := resp.Header.Revision + 1
	now := time.Now()
	hist, err := putJSON(k.History(rev), HistoryEntry{Time: now.UTC(), Actor: "mallory", Document: string(doc)})
	if err != nil {
		t.Fatal(err)
	}
	details := map[string]string{"previous_revision": strconv.FormatInt(first, 10), "read_revision": strconv.FormatInt(rev-1, 10)}
	ev, err := a.eventOp(now, ActionPolicyPush, k.Policy(), Meta{Actor: "mallory"}, details)
	if err != nil {
		t.Fatal(err)
	}
	old, err := putJSON(k.History(first), HistoryEntry{Time: now.UTC(), Actor: "alice", Document: "# rewritten\n"})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k.Policy()), "<", rev)).
		Then(clientv3.OpPut(k.Policy(), string(doc)), hist, ev, old).Commit()
	if err != nil || !tx.Succeeded {
		t.Fatalf("the push by hand: %v", err)
	}
	// Another test's write on the shared etcd may land between the read
	// and the commit: the entry numbered the revision read plus one is
	// still the push's own (read_revision), as a real push's is.
	f.waitAt(t, tx.Header.Revision)
	f.stop()
	var got []string
	for _, e := range unattributedOf(f.events()) {
		got = append(got, e.Action+" "+e.Target)
	}
	oldID := strings.TrimPrefix(k.History(first), k.HistoryDir())
	if want := ActionHistoryWritten + " " + oldID; len(got) != 1 || got[0] != want {
		t.Errorf("unattributed events = %v, want [%s]: the older entry rewritten beside a push is not flagged", got, want)
	}
}
