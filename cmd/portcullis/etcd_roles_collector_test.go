package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// With the roles of the Job, on a new cluster and on one the Job set up
// before (upgradeRoles), the collector's user writes only what the
// collector writes: its head under audit/, and a detection action's
// suspension or revocation with its events under
// events-by/portcullis-collector/ (etcdActions with its etcd user, as the
// collector wires it). It cannot write events/, whose events bind no one,
// another user's events-by/, the policy, keys, approvals, use counters,
// resumed/, members/ or demand/. Before, its role wrote events/ too.
func TestEtcdRolesCollectorWritesOnlyItsOwn(t *testing.T) {
	t.Parallel()
	const prefix = "/portcullis/default"
	r := newRolesRig(t, prefix)
	ctx := r.ctx
	upgradeRoles(t, ctx, dialAs(t, r.e.Endpoints(), "root"), prefix)
	const user = "portcullis-collector"
	cli := dialAs(t, r.e.Endpoints(), user)
	acts := etcdActions(etcdadmin.New(cli, prefix), "portcullis-collector", user)
	if err := acts.Suspend(ctx, "acme-hris", time.Minute, "alert alr_1: flood", "T-2"); err != nil {
		t.Errorf("collector suspending a client (detection action): %v", err)
	}
	if err := acts.Record(ctx, "alr_1", "alert alr_1: flood", "T-2", nil); err != nil {
		t.Errorf("collector recording its containment: %v", err)
	}
	if _, err := cli.Put(ctx, prefix+"/audit/head", "{}"); err != nil {
		t.Errorf("collector publishing its head: %v", err)
	}
	k := etcdsync.NewLayout(prefix)
	evs, err := cli.Get(ctx, k.EventsByDir(), clientv3.WithPrefix())
	if err != nil || len(evs.Kvs) == 0 {
		t.Fatalf("events under events-by/ after the collector's actions: %v %v", evs, err)
	}
	n := 0
	for _, kv := range evs.Kvs {
		if strings.HasPrefix(string(kv.Key), k.EventsBy(user)) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d events under %s, want the suspension's and the containment's", n, k.EventsBy(user))
	}
	suffix := fmt.Sprintf("%020d-0badf00d", time.Now().UnixNano())
	for _, key := range []string{prefix + "/events/" + suffix, prefix + "/events-by/ops-alice/" + suffix, prefix + "/events-by/" + suffix,
		prefix + "/policy", prefix + "/policy-history/x", prefix + "/keys/forged", prefix + "/resumed/acme-hris",
		prefix + "/approvals/x", prefix + "/approval-uses/x", prefix + "/members/x", prefix + "/demand/x"} {
		if _, err := cli.Put(ctx, key, "{}"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("collector put %s: %v, want permission denied", key, err)
		}
	}
}
