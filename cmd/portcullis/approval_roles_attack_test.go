package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// grantUnderRoles starts etcd with the Job's roles and authentication on,
// pushes the example policy and has alice request and bob grant a
// single-use approval for acme-admin on the export route.
func grantUnderRoles(t *testing.T, ctx context.Context) (endpoints []string, opCli *clientv3.Client, ap etcdsync.Approval) {
	t.Helper()
	const prefix = "/portcullis/default"
	e := startEtcd(t)
	setupAuth(t, ctx, dialAs(t, e.Endpoints(), ""), roleGrants(t, prefix))
	opCli = dialAs(t, e.Endpoints(), "portcullis-operator")
	op := etcdadmin.New(opCli, prefix)
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "test", Reason: "roles", Ticket: "T-1", EtcdUser: "portcullis-operator"}); err != nil {
		t.Fatalf("operator policy push: %v", err)
	}
	ap, err = personAdmin(t, e.Endpoints(), prefix, "ops-alice").RequestApproval(ctx, etcdadmin.ApprovalRequest{Client: "acme-admin", Route: exportRoute}, etcdadmin.Meta{Actor: "alice", Reason: "quarterly export", Ticket: "CHG-7", EtcdUser: "ops-alice"})
	if err != nil {
		t.Fatalf("operator approvals request: %v", err)
	}
	if ap, err = personAdmin(t, e.Endpoints(), prefix, "ops-bob").GrantApproval(ctx, ap.ID, "bob", "checked", etcdadmin.Meta{Actor: "bob", EtcdUser: "ops-bob"}); err != nil {
		t.Fatalf("operator approvals grant: %v", err)
	}
	if ap.MaxUses != 1 {
		t.Fatalf("granted %d uses, want the example's single use", ap.MaxUses)
	}
	return e.Endpoints(), opCli, ap
}

const exportRoute = "POST /v1/exports/full"

// A sidecar's etcd user may delete under approval-uses/ (the role is
// readwrite; etcd has no create-only permission). A single-use grant must
// still admit one request however a sidecar credential handles its
// counter: a deleted or re-created counter has another create revision,
// so it counts as used up. (Found by an outside review of the first
// design, one key per use number, where a delete freed the number.)
func TestSidecarCannotReopenSingleUseApproval(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	endpoints, _, ap := grantUnderRoles(t, ctx)
	const prefix = "/portcullis/default"
	sc := dialAs(t, endpoints, "portcullis-sidecar")
	l := etcdsync.NewLedger(sc, etcdsync.LedgerConfig{Prefix: prefix, Pod: "hr-service-0", Logger: zerolog.Nop()})
	go func() { _ = l.Run(ctx) }()
	waitFor(t, ctx, "the ledger", l.Ready)

	admitted := 0
	for i := range 3 {
		if l.Consume([]byte(ap.ID), "acme-admin", exportRoute, fmt.Appendf(nil, "req-%d", i), time.Now()) {
			admitted++
		}
		// The sidecar user removes the use key it (or another pod) created.
		if _, err := sc.Delete(ctx, etcdsync.NewLayout(prefix).ApprovalCounter(ap.ID)); err != nil {
			t.Fatalf("sidecar delete of the use keys: %v", err)
		}
	}
	if admitted != 1 {
		t.Errorf("a single-use approval admitted %d requests after the sidecar user deleted its use keys, want 1", admitted)
	}
}

// The counter is written by the sidecar's etcd user, so what its value
// says is a claim: a use claiming to be spent by operator "alice" as etcd
// user portcullis-operator, dated years before the grant, must be stored
// without that actor and etcd user, dated when the collector read it, and
// flagged unverified. (Found by an outside review: the follower used to
// take them from the record and store the use as verified.)
func TestSidecarCannotForgeOperatorUseEvent(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	endpoints, opCli, ap := grantUnderRoles(t, ctx)
	const prefix = "/portcullis/default"

	colAdmin := etcdadmin.New(dialAs(t, endpoints, "portcullis-collector"), prefix)
	dir := t.TempDir()
	store := auditStore(t, dir)
	defer store.Close()
	stopFollow := followEvents(ctx, colAdmin, store, dir)
	defer stopFollow()

	sc := dialAs(t, endpoints, "portcullis-sidecar")
	forged, _ := json.Marshal(etcdsync.ApprovalUse{Client: "acme-admin", Route: exportRoute, Actor: "alice",
		EtcdUser: "portcullis-operator", Time: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)})
	if _, err := sc.Put(ctx, etcdsync.NewLayout(prefix).ApprovalCounter(ap.ID), string(forged), clientv3.WithLease(clientv3.LeaseID(ap.UsesLease))); err != nil {
		t.Fatalf("sidecar put of a use key: %v", err)
	}

	var got *collector.Event
	waitFor(t, ctx, "the approval.use event in the collector's trail", func() bool {
		collector.QueryEvents(dir, time.Time{}, time.Time{}, func(ev *collector.Event) error {
			if ev.Action == etcdsync.ActionApprovalUse && ev.Target == ap.ID {
				c := *ev
				got = &c
			}
			return nil
		})
		return got != nil
	})
	var d map[string]string
	json.Unmarshal(got.Details, &d)
	t.Logf("recorded: time %v actor %q unverified %q details %v", got.Time, got.Actor, got.Unverified, d)
	if got.Unverified == "" && (got.Actor == "alice" || d[etcdadmin.DetailEtcdUser] == "portcullis-operator") {
		t.Errorf("use written by the sidecar user recorded verified as actor %q, etcd user %q: a sidecar credential attributes a use to an operator", got.Actor, d[etcdadmin.DetailEtcdUser])
	}
	// The collector dates the event by when it saw it (held). The
	// operator's own view, portcullis events --since (ListEvents), dates it
	// by the writer's word and leaves the use out of a window that holds it.
	evs, err := etcdadmin.New(opCli, prefix).ListEvents(ctx, ap.Decided.Add(-time.Minute), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, e := range evs {
		seen = seen || (e.Action == etcdsync.ActionApprovalUse && e.Target == ap.ID)
	}
	if !seen {
		t.Errorf("ListEvents since the grant: the use key created after the grant is missing (dated by its writer: 2001)")
	}
}
