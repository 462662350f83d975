package main

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// With the roles of the Job, a detection rule's revoke_key action, which
// the collector runs through etcd as its own user (etcdActions, as a
// suspend action is), revokes the key: the revocation is in etcd and the
// sidecars refuse the key. Before, the portcullis-collector role could
// write suspensions/ but not revocations/: every revoke_key containment
// was refused ("permission denied"), retried for as long as the alert was
// open, and the key an alert caught stayed valid (attack174).
func TestEtcdRolesCollectorRevokesAKey(t *testing.T) {
	t.Parallel()
	const prefix = "/portcullis/default"
	r := newRolesRig(t, prefix)
	e, ctx, op, meta := r.e, r.ctx, r.op, r.meta
	_, spec, err := op.CreateKey(ctx, "globex-bi", time.Hour, meta)
	if err != nil {
		t.Fatalf("operator keys create: %v", err)
	}

	acts := etcdActions(etcdadmin.New(dialAs(t, e.Endpoints(), "portcullis-collector"), prefix), "collector", "portcullis-collector")
	if err := acts.Revoke(ctx, spec.ID, "alert alr_1: dead-credential", "T-2"); err != nil {
		t.Fatalf("collector revoking key %s (a revoke_key rule's action): %v", spec.ID, err)
	}
	st, err := etcdsync.ReadState(ctx, dialAs(t, e.Endpoints(), "portcullis-operator"), etcdsync.NewLayout(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Revocations[spec.ID]; !ok {
		t.Errorf("no revocation of %s in etcd after the collector's revoke_key action", spec.ID)
	}
}

// With the roles of the Job, the collector's follower, as its own user,
// reads a revocation deleted by hand (here with the operator's role) and
// passes it on flagged: the collector's read of the whole prefix covers
// the follower's watch to the end of suspensions/, and no role needed
// widening. Before, the follower watched approval-uses/ to events/ only,
// and the delete reached no event.
func TestEtcdRolesCollectorFollowsARevocationDeletedByHand(t *testing.T) {
	t.Parallel()
	const prefix = "/portcullis/default"
	r := newRolesRig(t, prefix)
	e, ctx, opCli, op, meta := r.e, r.ctx, r.opCli, r.op, r.meta
	_, spec, err := op.CreateKey(ctx, "globex-bi", time.Hour, meta)
	if err != nil {
		t.Fatalf("operator keys create: %v", err)
	}
	if _, err := op.RevokeKey(ctx, spec.ID, meta); err != nil {
		t.Fatalf("operator keys revoke: %v", err)
	}
	del, err := opCli.Delete(ctx, etcdsync.NewLayout(prefix).Revocation(spec.ID))
	if err != nil || del.Deleted != 1 {
		t.Fatalf("operator deleting the revocation by hand: %v", err)
	}
	collector := etcdadmin.New(dialAs(t, e.Endpoints(), "portcullis-collector"), prefix)
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	found := make(chan etcdadmin.Event, 1)
	done := make(chan error, 1)
	go func() {
		done <- collector.FollowEvents(fctx, 0, func(evs []etcdadmin.Event) error {
			for _, ev := range evs {
				if ev.Action == "revocation.deleted_unattributed" {
					found <- ev
					return context.Canceled
				}
			}
			return nil
		})
	}()
	select {
	case ev := <-found:
		if ev.Target != spec.ID || ev.Revision != del.Header.Revision || ev.Unverified == "" {
			t.Errorf("followed %+v, want a flagged revocation.deleted_unattributed of %s at revision %d", ev, spec.ID, del.Header.Revision)
		}
	case err := <-done:
		t.Fatalf("the collector's follower ended without the delete: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the collector's follower passed on no revocation.deleted_unattributed within a minute")
	}
}
