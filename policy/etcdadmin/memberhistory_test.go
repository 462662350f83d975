package etcdadmin

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestMemberTrailsAcknowledgeRevocation revokes a key with a real Syncer
// (pod-1) publishing its member record and a stuck sidecar (pod-stuck,
// whose leased record names the revision before the revocation, as a
// sidecar cut off from etcd leaves it): pod-1's trail names the first
// version at the revocation's revision, pod-stuck's none; after etcd
// compacts its history the trail says so. It runs its own etcd, since it
// compacts it.
func TestMemberTrailsAcknowledgeRevocation(t *testing.T) {
	t.Parallel()
	e, err := devetcd.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli := dial(t, e)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	push(t, a, examplePolicy(t))
	runSyncer(t, cli, etcdsync.SyncConfig{Prefix: prefix, Pod: "pod-1"})
	ctx := context.Background()
	member := func(pod string) etcdsync.Member {
		ms, _ := a.Members(ctx)
		for _, m := range ms {
			if m.Pod == pod {
				return m
			}
		}
		return etcdsync.Member{}
	}
	waitFor(t, 60*time.Second, "pod-1's member record", func() bool { return member("pod-1").Revision > 0 })

	lease, err := cli.Grant(ctx, 3600) // longer than the waits below: a lease that ran out under load took pod-stuck away
	if err != nil {
		t.Fatal(err)
	}
	stuck, _ := json.Marshal(etcdsync.Member{Pod: "pod-stuck", Revision: member("pod-1").Revision, Updated: time.Now().UTC()})
	if _, err := cli.Put(ctx, etcdsync.NewLayout(prefix).Member("pod-stuck"), string(stuck), clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UTC()
	rev, err := a.RevokeKey(ctx, "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "pod-1 to publish the revocation's revision", func() bool { return member("pod-1").Revision >= rev })

	trails, bad, err := a.MemberTrails(ctx, rev)
	if err != nil || len(bad) != 0 || len(trails) != 2 {
		t.Fatalf("MemberTrails = %+v, %q, %v; want two trails", trails, bad, err)
	}
	byPod := map[string]MemberTrail{}
	for _, tr := range trails {
		byPod[tr.Pod] = tr
	}
	p1 := byPod["pod-1"]
	got, ok := p1.Applied(rev)
	if !ok || got.Revision < rev || got.Updated.Before(before) || p1.Compacted {
		t.Errorf("pod-1 applied %+v, %v (trail %+v); want a version at revision %d or later, updated after %s", got, ok, p1, rev, before)
	}
	if p1.Versions[0].Revision >= rev {
		t.Errorf("pod-1's trail %+v does not reach back before revision %d", p1.Versions, rev)
	}
	if got, ok := byPod["pod-stuck"].Applied(rev); ok {
		t.Errorf("pod-stuck applied %+v; want never", got)
	}

	cur, err := cli.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, cur.Header.Revision); err != nil {
		t.Fatal(err)
	}
	trails, _, err = a.MemberTrails(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range trails {
		if tr.Pod == "pod-1" && (!tr.Compacted || len(tr.Versions) != 1) {
			t.Errorf("pod-1's trail after compaction = %+v; want the current version, marked compacted", tr)
		}
	}
}
