package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// With the per-person roles of the Job (OPERATORS), ops-alice cannot
// write an event under events/ nor under ops-bob's events-by/ directory;
// her CLI change puts its event under events-by/ops-alice/, and the
// collector's follower, as its own user, names her from the key. A
// policy.push event she forges in her own transaction, naming actor bob
// and etcd user ops-bob beside a policy put, can sit only under her
// directory: the trail names ops-alice (flagged event.misattributed, the
// claim kept apart), never ops-bob. Before, her role wrote the whole
// prefix: the event under events/ named ops-bob, and the put was
// attributed to bob.
func TestEtcdRolesPersonBindsHerEvents(t *testing.T) {
	t.Parallel()
	const prefix = "/portcullis/default"
	r := newRolesRig(t, prefix)
	ctx := r.ctx
	k := etcdsync.NewLayout(prefix)
	aliceCli := dialAs(t, r.e.Endpoints(), "ops-alice")
	suffix := fmt.Sprintf("%020d-0badf00d", time.Now().UnixNano())
	for _, key := range []string{prefix + "/events/" + suffix, prefix + "/events-by/ops-bob/" + suffix, prefix + "/events-by/" + suffix} {
		if _, err := aliceCli.Put(ctx, key, "{}"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("ops-alice put %s: %v, want permission denied", key, err)
		}
	}
	alice := etcdadmin.New(aliceCli, prefix)
	meta := etcdadmin.Meta{Actor: "alice", Reason: "roles", Ticket: "T-2", EtcdUser: "ops-alice"}
	_, created1, err := alice.CreateKey(ctx, "globex-bi", time.Hour, meta)
	if err != nil {
		t.Fatalf("ops-alice's keys create: %v", err)
	}
	doc, polRev, err := alice.GetPolicy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := json.Marshal(etcdadmin.Event{Time: time.Now().UTC(), Actor: "bob", Action: etcdadmin.ActionPolicyPush, Target: k.Policy(), Ticket: "T-3",
		Details: map[string]string{etcdadmin.DetailEtcdUser: "ops-bob", "previous_revision": strconv.FormatInt(polRev, 10)}})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := aliceCli.Txn(ctx).Then(clientv3.OpPut(k.Policy(), string(doc)), clientv3.OpPut(prefix+"/events-by/ops-alice/"+suffix, string(forged))).Commit()
	if err != nil || !tx.Succeeded {
		t.Fatalf("ops-alice's policy put with a forged event under her own directory: %v", err)
	}
	forgedRev := tx.Header.Revision

	collectorCli := dialAs(t, r.e.Endpoints(), "portcullis-collector")
	collector := etcdadmin.New(collectorCli, prefix)
	var got []etcdadmin.Event
	fctx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	err = collector.FollowEventsAfter(fctx, 0, authOnSinceSetup(t, collectorCli), nil, func(evs []etcdadmin.Event) error {
		got = append(got, evs...)
		if evs[len(evs)-1].Revision >= forgedRev {
			return context.Canceled
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("following as the collector: %v", err)
	}
	var created, push bool
	for _, ev := range got {
		user, claimed := ev.Details[etcdadmin.DetailEtcdUser], ev.Details[etcdadmin.DetailClaimedEtcdUser]
		switch {
		case ev.Action == etcdadmin.ActionKeyCreate && ev.Target == created1.ID:
			created = true
			if user != "ops-alice" || ev.Unverified != "" || !strings.HasPrefix(ev.Key, k.EventsBy("ops-alice")) {
				t.Errorf("her key.create: key %s, etcd user %q, unverified %q; want under events-by/ops-alice/, naming ops-alice, verified", ev.Key, user, ev.Unverified)
			}
		case ev.Revision == forgedRev && ev.Action == etcdadmin.ActionPolicyPush:
			push = true
			if user != "ops-alice" || claimed != "ops-bob" || !strings.HasPrefix(ev.Unverified, etcdadmin.FlagMisattributed) {
				t.Errorf("the forged policy.push names etcd user %q (claimed %q), unverified %q; want ops-alice, the claim ops-bob apart, flagged %s",
					user, claimed, ev.Unverified, etcdadmin.FlagMisattributed)
			}
		case ev.Revision == forgedRev:
			t.Errorf("at the forged revision: %s %q (%s); want the policy.push alone, which speaks for the put", ev.Action, ev.Target, ev.Unverified)
		}
	}
	if !created || !push {
		t.Errorf("followed key.create %v, forged policy.push %v; want both: %+v", created, push, got)
	}
}

// authOnSinceSetup is what a follower started as the rig's etcd turned
// its authentication on, before any write, would keep of it
// (etcdadmin.AuthMark): the events under events-by/ bind their users only
// when authentication is proven on since before they were written.
func authOnSinceSetup(t *testing.T, cli *clientv3.Client) etcdadmin.Witnesses {
	t.Helper()
	resp, err := cli.AuthStatus(context.Background())
	if err != nil || !resp.Enabled {
		t.Fatalf("AuthStatus: %v, %v; want authentication on", resp, err)
	}
	return etcdadmin.Witnesses{Auth: etcdadmin.AuthMark{Revision: resp.AuthRevision}}
}
