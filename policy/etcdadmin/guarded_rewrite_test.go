package etcdadmin

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A token's revocation without an expiry is never pruned, and RevokeKey
// and RevokeToken write only a revocation that is not there yet. By hand,
// with the operator's role, it was rewritten with an expiry in the past
// and a token.revoke event in the same transaction, then deleted with a
// token.revocation_expired event: the token was usable again and the
// follower flagged neither change, each spoken for by an event of its
// revision. A put over a revocation already there is now flagged
// whatever event is beside it, and so the token's un-revocation.
func TestFollowFlagsARevocationRewrittenWithARevokeEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	push(t, a, examplePolicy(t))
	const id = etcdsync.JTIPrefix + "tok-forever"
	if _, err := a.RevokeToken(ctx, "tok-forever", time.Time{}, meta); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-48 * time.Hour)
	rec, _ := json.Marshal(etcdsync.Revocation{ID: id, Actor: "mallory", Reason: "x", Time: past, Expires: past})
	ev, err := a.eventOp(time.Now(), ActionTokenRevoke, id, meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	rewrote, err := a.commit(ctx, nil, clientv3.OpPut(k.Revocation(id), string(rec)), ev)
	if err != nil || rewrote == 0 {
		t.Fatalf("rewrite with a revoke event: %d, %v", rewrote, err)
	}
	ev, err = a.eventOp(time.Now(), ActionTokenRevocationExpired, id, meta, nil)
	if err != nil {
		t.Fatal(err)
	}
	deleted, err := a.commit(ctx, nil, clientv3.OpDelete(k.Revocation(id)), ev)
	if err != nil || deleted == 0 {
		t.Fatalf("delete with a prune event: %d, %v", deleted, err)
	}
	f := follow(t, a, 0)
	f.waitAt(t, deleted)
	f.stop()
	u := unattributedOf(f.events())
	if len(u) != 1 || u[0].Action != ActionRevocationWritten || u[0].Target != id || u[0].Revision != rewrote || u[0].Unverified == "" {
		t.Errorf("unattributed events = %+v, want one flagged %s of %s at %d (a revocation rewritten)", u, ActionRevocationWritten, id, rewrote)
	}
}
