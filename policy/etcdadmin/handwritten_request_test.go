package etcdadmin

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// An approval.request event spoke for any put of its approval's record,
// where approvals request only creates one: a transaction of the
// operator's etcd role putting a denied approval back as it was pending,
// with an approval.request event (verified: the record was put at its
// revision), undid the denial with nothing flagged. A request speaks
// only for the record it creates now, as key.create does for a key.
func TestFollowFlagsApprovalRewrittenUnderARequestEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	push(t, a, approvalPolicy(t))
	alice := Meta{Actor: "alice", Reason: "key", Ticket: "CHG-72"}
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}, alice)
	if err != nil {
		t.Fatal(err)
	}
	pending, err := cli.Get(ctx, k.Approval(ap.ID))
	if err != nil || len(pending.Kvs) != 1 {
		t.Fatalf("reading approval %s: %v", ap.ID, err)
	}
	if _, err := a.DenyApproval(ctx, ap.ID, "bob", "no", Meta{Actor: "bob", Ticket: "CHG-72"}); err != nil {
		t.Fatal(err)
	}
	f := follow(t, a, 0)
	ev, err := a.eventOp(time.Now(), etcdsync.ActionApprovalRequest, ap.ID, alice, map[string]string{"requester": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := cli.Txn(ctx).Then(clientv3.OpPut(k.Approval(ap.ID), string(pending.Kvs[0].Value)), ev).Commit()
	if err != nil {
		t.Fatal(err)
	}
	f.waitAt(t, tx.Header.Revision)
	f.stop()
	var got []string
	for _, e := range unattributedOf(f.events()) {
		got = append(got, e.Action+" "+e.Target)
	}
	if want := ActionApprovalWritten + " " + ap.ID; len(got) != 1 || got[0] != want {
		t.Errorf("unattributed events = %v, want [%s]: a denied approval put back as pending under a request event is not flagged", got, want)
	}
}
