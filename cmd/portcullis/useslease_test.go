package main

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestRevokedUsesLeaseKeepsTheUseInTheTrail, under the Job's roles with
// authentication on: the sidecar's etcd user spends the single use of a
// grant while the collector is down, then revokes the grant's uses lease
// (etcd lets a user revoke a lease when it may write every key on it, and
// the uses lease holds only approval-uses/<id>). The collector, started
// after, catches up from etcd's history and must store the request, the
// grant and the approval.use, and the counter's early deletion as a
// flagged approval.counter_delete.
func TestRevokedUsesLeaseKeepsTheUseInTheTrail(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	endpoints, _, ap := grantUnderRoles(t, ctx)
	const prefix = "/portcullis/default"
	sc := dialAs(t, endpoints, "portcullis-sidecar")
	l := etcdsync.NewLedger(sc, etcdsync.LedgerConfig{Prefix: prefix, Pod: "hr-service-0", Logger: zerolog.Nop()})
	go func() { _ = l.Run(ctx) }()
	waitFor(t, ctx, "the ledger", l.Ready)
	if !l.Consume([]byte(ap.ID), "acme-admin", exportRoute, []byte("req-1"), time.Now()) {
		t.Fatal("the single use refused")
	}
	if _, err := sc.Revoke(ctx, clientv3.LeaseID(ap.UsesLease)); err != nil {
		t.Fatalf("sidecar revoke of the uses lease: %v", err)
	}

	colAdmin := etcdadmin.New(dialAs(t, endpoints, "portcullis-collector"), prefix)
	dir := t.TempDir()
	store := auditStore(t, dir)
	defer store.Close()
	stop := followEvents(ctx, colAdmin, store, dir)
	defer stop()
	actions := map[string]int{}
	waitFor(t, ctx, "the catch-up (the grant's event) in the trail", func() bool {
		clear(actions)
		collector.QueryEvents(dir, time.Time{}, time.Time{}, func(ev *collector.Event) error {
			actions[ev.Action]++
			return nil
		})
		return actions[etcdsync.ActionApprovalGrant] == 1 && actions[etcdadmin.ActionCounterDelete] == 1
	})
	if actions[etcdsync.ActionApprovalUse] != 1 {
		t.Errorf("trail after catch-up: %v; want the sidecar's approval.use of %s (hidden by revoking its uses lease)", actions, ap.ID)
	}
}
