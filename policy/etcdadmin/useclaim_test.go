package etcdadmin

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A counter put claiming a CLI actor and etcd user without its event was
// flagged "without its event under events/": the CLI written as an etcd
// user puts its approval.use under events-by/<user>/, and a put naming an
// event there, written in another transaction, was flagged as if events/
// were the only place. The flag names both directories.
func TestFollowFlagsAClaimedCLIUseNamingBothEventDirectories(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	route, ap := twoUseGrant(t, ctx, a)
	claim, _ := json.Marshal(etcdsync.ApprovalUse{Client: "acme-admin", Route: route, Actor: "carol", EtcdUser: "ops-carol",
		Event: k.EventsBy("ops-carol") + "1-x", Time: time.Now()})
	put, err := cli.Put(ctx, k.ApprovalCounter(ap.ID), string(claim), clientv3.WithIgnoreLease())
	if err != nil {
		t.Fatal(err)
	}
	f := follow(t, a, 0)
	f.waitAt(t, put.Header.Revision)
	f.stop()
	var use *Event
	for _, e := range f.events() {
		if e.Action == etcdsync.ActionApprovalUse && e.Revision == put.Header.Revision {
			use = &e
		}
	}
	if use == nil || !strings.Contains(use.Unverified, "claims CLI actor") || !strings.Contains(use.Unverified, "events-by/") {
		t.Errorf("counter put claiming a CLI use as ops-carol: %+v, want it flagged naming events-by/ as where its event would be", use)
	}
}
