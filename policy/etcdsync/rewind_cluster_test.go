package etcdsync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestReplacedClusterKeepsRevocations: the endpoint a sidecar dials comes
// to answer from another etcd cluster (a new cluster, or a backup restored
// as one) whose revision has climbed past the one applied and which lacks
// a revocation in force. Before, going back was found by revision only:
// the watch resumed at the revision reached and followed the new cluster's
// later writes, and the next re-read applied its state, the revoked key
// working again with nothing logged. Now a change of cluster id is a
// rewind: logged, counted, the revocation held (and carried across a
// restart by the last-known-good file), and the watch follows the new
// cluster from a whole read of it.
func TestReplacedClusterKeepsRevocations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e1 := ownEtcd(t)
	cli := dial(t, e1)
	a := etcdadmin.New(cli, "")
	push(t, a, examplePolicy(t))
	logs := &logBuffer{}
	state := t.TempDir()
	cfg := etcdsync.SyncConfig{StateDir: state, Progress: 100 * time.Millisecond, Logger: zerolog.New(logs).Level(zerolog.InfoLevel)}
	r := runSyncer(t, cli, cfg)
	revoked := func(r *running, id string) bool { return r.store.Load().Key([]byte(id)).Revoked }
	rev, err := a.RevokeKey(ctx, "acmehris1", meta)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the revocation in force", func() bool { return r.Ready() && revoked(r, "acmehris1") && r.Revision() >= rev })

	// Another cluster, the policy pushed, no revocation, its revision past
	// the one applied.
	replacement := func() (*clientv3.Client, *etcdadmin.Admin) {
		t.Helper()
		e := ownEtcd(t)
		c := dial(t, e)
		a := etcdadmin.New(c, "")
		push(t, a, examplePolicy(t))
		for i := range int(r.Revision()) + 20 {
			if _, err := c.Put(ctx, etcdsync.DefaultPrefix+"/events/x"+fmt.Sprint(i), "{}"); err != nil {
				t.Fatal(err)
			}
		}
		cli.SetEndpoints(e.Endpoints()...)
		return c, a
	}
	_, a2 := replacement()
	e1.Stop()
	waitFor(t, 30*time.Second, "the replaced cluster followed", func() bool { return r.Rewinds() == 1 && r.Current() })
	if !revoked(r, "acmehris1") || r.LKGHealth().Held != 1 {
		t.Fatalf("followed a replaced cluster: acmehris1 revoked %v, held %d; want true, 1", revoked(r, "acmehris1"), r.LKGHealth().Held)
	}
	if !strings.Contains(logs.String(), "etcd cluster id changed") || !strings.Contains(logs.String(), `"revocations":["acmehris1"]`) {
		t.Errorf("no warn line of the cluster change and error line of the held revocation:\n%s", logs)
	}
	// The watch follows the new cluster.
	rev, err = a2.RevokeKey(ctx, "globexbi1", meta)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a revocation in the new cluster in force", func() bool { return revoked(r, "globexbi1") && r.Revision() >= rev })

	// Down while the cluster is replaced again: the file carries both.
	r.stop()
	replacement()
	r2 := runSyncer(t, cli, cfg)
	waitFor(t, 30*time.Second, "the restarted sidecar current", func() bool { return r2.Ready() && r2.Current() })
	if !revoked(r2, "acmehris1") || !revoked(r2, "globexbi1") || r2.Rewinds() != 1 || r2.LKGHealth().Held != 2 {
		t.Fatalf("restarted on another cluster: acmehris1 revoked %v, globexbi1 revoked %v, rewinds %d, held %d; want true, true, 1, 2",
			revoked(r2, "acmehris1"), revoked(r2, "globexbi1"), r2.Rewinds(), r2.LKGHealth().Held)
	}
}

// TestSharerFollowsAReplacedCluster: the demand watch's endpoint comes to
// answer from another cluster past the revision watched. Before, the
// watch resumed there and the members the new cluster already held were
// never read (p1 shared every limit with itself alone, for ever); now the
// other cluster id is a rewind: counted, and members and demand read again.
func TestSharerFollowsAReplacedCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e1 := ownEtcd(t)
	cli := dial(t, e1)
	prefix := newPrefix(t)
	p1 := startSharePod(t, cli, prefix, "p1")
	pollDetail(t, "p1 alone", func() (bool, string) { return p1.sh.Members() == 1, fmt.Sprint("members ", p1.sh.Members()) })

	e2 := ownEtcd(t)
	c2 := dial(t, e2)
	lease, err := c2.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range []string{"p1", "p2"} {
		if _, err := c2.Put(ctx, etcdsync.NewLayout(prefix).Member(pod), `{"pod":"`+pod+`"}`, clientv3.WithLease(lease.ID)); err != nil {
			t.Fatal(err)
		}
	}
	top, err := cli.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	for i := range int(top.Header.Revision) + 20 {
		if _, err := c2.Put(ctx, "/other/"+fmt.Sprint(i), "{}"); err != nil {
			t.Fatal(err)
		}
	}
	cli.SetEndpoints(e2.Endpoints()...)
	e1.Stop()
	pollDetail(t, "the members of the new cluster", func() (bool, string) {
		return p1.sh.Members() == 2 && p1.sh.Rewinds() == 1, fmt.Sprint("members ", p1.sh.Members(), ", rewinds ", p1.sh.Rewinds())
	})
}
