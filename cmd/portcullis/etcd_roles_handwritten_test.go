package main

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// With the roles of the Job, a put of the policy and of a key record by
// hand with the operator's role (etcdctl put, no event) reaches the
// collector's follower, as its own user, and is passed on flagged:
// policy.written_unattributed and key.written_unattributed. The
// collector's read of the whole prefix covers keys/ and policy, which lie
// within the follower's watch; no role needed widening. Before, the
// follower skipped both by prefix and the trail held nothing of them.
func TestEtcdRolesCollectorFollowsAPolicyAndAKeyPutByHand(t *testing.T) {
	t.Parallel()
	const prefix = "/portcullis/default"
	r := newRolesRig(t, prefix)
	e, ctx, opCli, op := r.e, r.ctx, r.opCli, r.op
	k := etcdsync.NewLayout(prefix)
	doc, _, err := op.GetPolicy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ppol, err := opCli.Put(ctx, k.Policy(), string(doc))
	if err != nil {
		t.Fatalf("operator putting the policy by hand: %v", err)
	}
	pkey, err := opCli.Put(ctx, k.Key("handmade1"), `{"id":"handmade1","client":"globex-bi"}`)
	if err != nil {
		t.Fatalf("operator putting a key record by hand: %v", err)
	}
	collector := etcdadmin.New(dialAs(t, e.Endpoints(), "portcullis-collector"), prefix)
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	want := map[string]int64{etcdadmin.ActionPolicyWritten: ppol.Header.Revision, etcdadmin.ActionKeyWritten: pkey.Header.Revision}
	got := map[string]int64{}
	done := make(chan error, 1)
	go func() {
		done <- collector.FollowEvents(fctx, 0, func(evs []etcdadmin.Event) error {
			for _, ev := range evs {
				if _, ok := want[ev.Action]; ok && ev.Unverified != "" {
					got[ev.Action] = ev.Revision
				}
			}
			if len(got) == len(want) {
				return context.Canceled
			}
			return nil
		})
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		stop()
		<-done
	}
	for action, rev := range want {
		if got[action] != rev {
			t.Errorf("the collector's follower passed on %s at revision %d; want it flagged at %d", action, got[action], rev)
		}
	}
}
