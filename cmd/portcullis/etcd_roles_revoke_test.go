package main

import (
	"context"
	"os"
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
	e := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	setupAuth(t, ctx, dialAs(t, e.Endpoints(), ""), roleGrants(t, prefix))
	op := etcdadmin.New(dialAs(t, e.Endpoints(), "portcullis-operator"), prefix)
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	meta := etcdadmin.Meta{Actor: "test", Reason: "roles", Ticket: "T-1"}
	if _, err := op.PushPolicy(ctx, doc, 0, meta); err != nil {
		t.Fatalf("operator policy push: %v", err)
	}
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
