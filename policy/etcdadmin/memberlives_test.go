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

// TestMemberHistoryKeepsSidecarsGone: MemberTrails reads the records
// there now, so a sidecar whose lease was revoked (it stopped) or lapsed
// before the pack was gone from it. Here pod-gone's leased record is put,
// pod-live's written after it, then pod-gone's lease revoked and pod-live
// written again: the history names pod-gone's run, created and deleted,
// with its times, pod-live's still open, and the dated writes around the
// delete; after etcd compacts, the history says from which revision it
// reads and no longer names pod-gone, while pod-live's run keeps the
// revision that created it. It runs its own etcd, since it
// compacts it.
func TestMemberHistoryKeepsSidecarsGone(t *testing.T) {
	t.Parallel()
	e, err := devetcd.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli := dial(t, e)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	ctx := context.Background()
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	put := func(pod string, lease clientv3.LeaseID, started, updated time.Time) int64 {
		t.Helper()
		m, _ := json.Marshal(etcdsync.Member{Pod: pod, Revision: 1, Started: started, Updated: updated})
		resp, err := cli.Put(ctx, etcdsync.NewLayout(prefix).Member(pod), string(m), clientv3.WithLease(lease))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	gone, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	live, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	created := put("pod-gone", gone.ID, day, day.Add(time.Hour))
	put("pod-live", live.ID, day, day.Add(12*time.Hour))
	del, err := cli.Revoke(ctx, gone.ID)
	if err != nil {
		t.Fatal(err)
	}
	put("pod-live", live.ID, day, day.Add(13*time.Hour))

	h, bad, err := a.MemberHistory(ctx)
	if err != nil || len(bad) != 0 {
		t.Fatalf("MemberHistory: %v, %q", err, bad)
	}
	if len(h.Lives) != 2 || h.From != 1 {
		t.Fatalf("MemberHistory = %+v; want two runs from revision 1", h)
	}
	g := h.Lives[0]
	if g.Pod != "pod-gone" || g.Created != created || g.Deleted != del.Header.Revision || !g.Started.Equal(day) || !g.Updated.Equal(day.Add(time.Hour)) {
		t.Errorf("pod-gone's run = %+v; want created at %d, deleted at %d, started %s, updated %s", g, created, del.Header.Revision, day, day.Add(time.Hour))
	}
	if l := h.Lives[1]; l.Pod != "pod-live" || l.Deleted != 0 || !l.Updated.Equal(day.Add(13*time.Hour)) {
		t.Errorf("pod-live's run = %+v; want open, updated at 13:00", l)
	}
	if len(h.Dated) != 3 || !h.Dated[1].Time.Equal(day.Add(12*time.Hour)) || h.Dated[1].Revision >= del.Header.Revision || h.Dated[2].Revision <= del.Header.Revision {
		t.Errorf("dated writes = %+v; want three, 12:00 before the delete at %d and 13:00 after", h.Dated, del.Header.Revision)
	}

	cur, err := cli.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, cur.Header.Revision); err != nil {
		t.Fatal(err)
	}
	if h, _, err = a.MemberHistory(ctx); err != nil {
		t.Fatal(err)
	}
	if h.From != cur.Header.Revision || len(h.Lives) != 1 || h.Lives[0].Pod != "pod-live" || h.Lives[0].Created >= h.From {
		t.Errorf("after compaction at %d, MemberHistory = %+v; want read from %d, only pod-live's run seen, created before", cur.Header.Revision, h, cur.Header.Revision)
	}
}
