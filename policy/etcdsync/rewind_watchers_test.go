package etcdsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// rewindCluster runs etcd in dir, hands the caller a client to it, and
// can take a backup of its data directory and later restore it: the same
// endpoints then answer below the revision reached, as after a restore
// from a volume snapshot.
type rewindCluster struct {
	t      *testing.T
	dir    string
	backup string
	e      *devetcd.Server
	cli    *clientv3.Client
}

func newRewindCluster(t *testing.T) *rewindCluster {
	c := &rewindCluster{t: t, dir: filepath.Join(t.TempDir(), "etcd")}
	e, err := devetcd.Start(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	c.e, c.cli = e, dial(t, e)
	return c
}

// snapshot copies the data directory, etcd stopped meanwhile.
func (c *rewindCluster) snapshot() {
	c.backup = etcdtest.Backup(c.t, c.e, c.dir)
}

// climb writes n keys no watcher of the test watches; it returns the
// last revision.
func (c *rewindCluster) climb(n int) int64 {
	var rev int64
	for i := range n {
		resp, err := c.cli.Put(context.Background(), "/elsewhere/x"+string(rune('a'+i%26)), "{}")
		if err != nil {
			c.t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	return rev
}

// restore puts the backup back and runs write on it while the watchers
// cannot reach it (on other ports), so only a re-read can bring in what
// write wrote; then etcd answers on its endpoints again. It returns the
// revision after write.
func (c *rewindCluster) restore(write func(cli *clientv3.Client) int64) int64 {
	c.e.Stop()
	etcdtest.PutBack(c.t, c.backup, c.dir)
	aside, err := devetcd.Start(c.dir)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(aside.Close)
	rev := write(dial(c.t, aside))
	aside.Stop()
	if err := c.e.Start(); err != nil {
		c.t.Fatal(err)
	}
	return rev
}

// checkedKV counts the rewind checks a Ledger or a Sharer makes through
// it (the linearizable count-only reads, rewindGuard.check) and keeps the
// highest revision one was answered at: the guard takes that revision as
// seen before its next read, so once top reaches a revision, etcd found
// below it later is etcd gone back. A sleep stood in for it ("5 checks at
// the climbed revision"), and under load no check had come by the restore.
type checkedKV struct {
	clientv3.KV
	top    atomic.Int64 // the highest revision a check was answered at
	checks atomic.Int64 // the checks answered
}

func (k *checkedKV) Do(ctx context.Context, op clientv3.Op) (clientv3.OpResponse, error) {
	resp, err := k.KV.Do(ctx, op)
	if g := resp.Get(); err == nil && op.IsGet() && op.IsCountOnly() && g != nil {
		for h := g.Header.Revision; ; {
			cur := k.top.Load()
			if h <= cur || k.top.CompareAndSwap(cur, h) {
				break
			}
		}
		k.checks.Add(1)
	}
	return resp, err
}

// checkedClient dials the cluster for a Ledger or a Sharer under test,
// its checks counted by the returned checkedKV.
func (c *rewindCluster) checkedClient() (*clientv3.Client, *checkedKV) {
	cli := dial(c.t, c.e)
	kv := &checkedKV{KV: cli.KV}
	cli.KV = kv
	return cli, kv
}

// checkedPast waits until a check was answered at rev or later.
func (k *checkedKV) checkedPast(t *testing.T, rev int64) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("a rewind check answered at revision %d or later", rev), func() bool { return k.top.Load() >= rev })
}

// moreChecks waits until n more checks were answered.
func (k *checkedKV) moreChecks(t *testing.T, n int64) {
	t.Helper()
	want := k.checks.Load() + n
	waitFor(t, 20*time.Second, fmt.Sprintf("%d more rewind checks", n), func() bool { return k.checks.Load() >= want })
}

// climbPast writes keys of no state through cli (the other sidecars'
// member records climb etcd so) until etcd is past rev+2, and returns its
// revision then.
func climbPast(t *testing.T, cli *clientv3.Client, rev int64) int64 {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := cli.Put(context.Background(), etcdsync.DefaultPrefix+"/members/climb"+strconv.Itoa(i%4), "{}")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Revision > rev+2 {
			return resp.Header.Revision
		}
	}
}

// pausedEtcd is etcd with the example policy pushed and a backup of it
// taken, reached by the sidecar under test through a proxy the test
// pauses (pcli): a sidecar cut off while etcd is restored and written.
type pausedEtcd struct {
	e           *devetcd.Server
	dir, backup string
	cli, pcli   *clientv3.Client
	a           *etcdadmin.Admin
	p           *etcdtest.PauseProxy
}

func newPausedEtcd(t *testing.T) *pausedEtcd {
	pe := &pausedEtcd{dir: filepath.Join(t.TempDir(), "etcd")}
	e, err := devetcd.Start(pe.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	pe.e, pe.cli = e, dial(t, e)
	pe.a = etcdadmin.New(pe.cli, "")
	push(t, pe.a, examplePolicy(t))
	pe.backup = etcdtest.Backup(t, e, pe.dir)
	u, err := url.Parse(e.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	pe.p = etcdtest.NewPauseProxy(t, u.Host)
	if pe.pcli, err = etcdsync.Dial(etcdsync.Config{Endpoints: []string{"http://" + pe.p.Addr}, DialTimeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pe.pcli.Close() })
	return pe
}

// restore cuts the sidecar off and puts the backup back, etcd stopped
// meanwhile; the test writes through cli, then resumes the proxy.
func (pe *pausedEtcd) restore(t *testing.T) {
	pe.p.Pause()
	pe.e.Stop()
	etcdtest.PutBack(t, pe.backup, pe.dir)
	if err := pe.e.Start(); err != nil {
		t.Fatal(err)
	}
}

// backwardsWarnings returns the was and now revisions of the warn lines
// about etcd going backwards.
func backwardsWarnings(t *testing.T, logs *logBuffer) []struct{ Was, Now int64 } {
	t.Helper()
	var warned []struct{ Was, Now int64 }
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if l == "" {
			continue
		}
		var line struct {
			Level, Message string
			Was, Now       int64
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if line.Level == "warn" && strings.Contains(line.Message, "backwards") {
			warned = append(warned, struct{ Was, Now int64 }{line.Was, line.Now})
		}
	}
	return warned
}

// TestLedgerFollowsEtcdBack: etcd restored from a backup answers below the
// revision the approvals Ledger had reached; the client resumes its watch
// there, in etcd's future, and no grant written since arrives on it. The
// Ledger's check (a linearizable read every Confirm) finds etcd below
// the revision seen: it reads the approvals again, watches from etcd's
// revision, counts it (Rewinds) and logs one warn line naming both
// revisions. A grant written on the restored cluster is then watched and
// usable, and so is one written after.
func TestLedgerFollowsEtcdBack(t *testing.T) {
	t.Parallel()
	c := newRewindCluster(t)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	now := time.Now()
	grant := func(id string) etcdsync.Approval {
		return etcdsync.Approval{ID: id, Client: "c1", Route: "POST /x", State: etcdsync.ApprovalGranted, MaxUses: 2, Expires: now.Add(time.Hour)}
	}
	putApproval(t, c.cli, k, grant("apr_before"))
	c.snapshot()

	logs := &logBuffer{}
	lcli, checks := c.checkedClient()
	l, _ := runLedgerWith(t, lcli, etcdsync.LedgerConfig{Prefix: prefix, Pod: "pod-a", Timeout: 2 * time.Second, Confirm: 100 * time.Millisecond,
		Logger: zerolog.New(logs).Level(zerolog.InfoLevel)})

	// Activity after the backup: a grant the ledger watches, then the
	// revision climbs and the ledger's checks see it.
	putApproval(t, c.cli, k, grant("apr_lost"))
	waitFor(t, 10*time.Second, "apr_lost watched", func() bool { return l.Watched("apr_lost") })
	rev := c.climb(40)
	checks.checkedPast(t, rev)

	rrev := c.restore(func(cli *clientv3.Client) int64 { return putApproval(t, cli, k, grant("apr_restored")) })
	if rrev >= rev {
		t.Fatalf("etcd did not go back: grant at %d, etcd had reached %d", rrev, rev)
	}
	waitFor(t, 30*time.Second, "the grant written on the restored cluster watched", func() bool { return l.Watched("apr_restored") })
	if l.Watched("apr_lost") {
		t.Error("the ledger still holds a grant the restored cluster lacks")
	}
	if !l.Consume([]byte("apr_restored"), "c1", "POST /x", []byte("r1"), now) {
		t.Error("Consume of the grant written on the restored cluster refused")
	}
	if l.Consume([]byte("apr_lost"), "c1", "POST /x", []byte("r2"), now) {
		t.Error("Consume of a grant the restored cluster lacks admitted")
	}
	checks.moreChecks(t, 5) // more checks: no second rewind
	if got := l.Rewinds(); got != 1 {
		t.Errorf("rewinds %d, want 1", got)
	}
	if w := backwardsWarnings(t, logs); len(w) != 1 || w[0].Was < rev || w[0].Now < rrev || w[0].Now >= rev {
		t.Errorf("want one warn line naming the revision reached (%d or later) and etcd's (from %d, below %d), got %+v\nall logs:\n%s", rev, rrev, rev, w, logs)
	}

	// Later grants arrive on the watch restarted from etcd's revision.
	putApproval(t, c.cli, k, grant("apr_after"))
	waitFor(t, 10*time.Second, "a grant after following etcd back watched", func() bool { return l.Watched("apr_after") })
	if !l.Consume([]byte("apr_after"), "c1", "POST /x", []byte("r3"), now) {
		t.Error("Consume of a grant written after following etcd back refused")
	}
}

// TestSharerFollowsEtcdBack: as TestLedgerFollowsEtcdBack, for the
// global-limits Sharer: a demand record written on the restored cluster
// is reflected in the shares (before, the Sharer kept computing them from
// the demand it had watched before the restore), with one rewind counted
// and one warn line naming both revisions.
func TestSharerFollowsEtcdBack(t *testing.T) {
	t.Parallel()
	c := newRewindCluster(t)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	ctx := context.Background()
	lease, err := c.cli.Grant(ctx, 60) // live members' and demand records are leased (at most MaxMemberTTL)
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range []string{"p1", "p2"} {
		if _, err := c.cli.Put(ctx, k.Member(pod), `{"pod":"`+pod+`"}`, clientv3.WithLease(lease.ID)); err != nil {
			t.Fatal(err)
		}
	}
	c.snapshot()

	logs := &logBuffer{}
	var mu sync.Mutex // guards got
	var got etcdsync.Shares
	shares := func() etcdsync.Shares { mu.Lock(); defer mu.Unlock(); return got }
	scli, checks := c.checkedClient()
	sh := etcdsync.NewSharer(scli, etcdsync.ShareConfig{Prefix: prefix, Pod: "p1", Interval: 100 * time.Millisecond,
		TTL: 5 * time.Second, Stale: 5 * time.Second, Confirm: 100 * time.Millisecond, Logger: zerolog.New(logs).Level(zerolog.InfoLevel),
		Demand: func(fn func(bool, string, uint64)) {}, // p1 is idle
		Apply: func(s etcdsync.Shares) {
			mu.Lock()
			got = s
			mu.Unlock()
		},
	})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := sh.Run(rctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 10*time.Second, "shares among 2 members", func() bool { return sh.Members() == 2 && shares().Default == 0.5 })

	// After the backup: p2 has demand for globex, which the Sharer follows
	// (p1, idle, takes the floor), then the revision climbs.
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if _, err := c.cli.Put(ctx, k.Demand("p2"), `{"t":{"globex":100}}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "globex at the floor", func() bool { return near(shares().Tenants["globex"], 0.1) })
	rev := c.climb(40)
	checks.checkedPast(t, rev)

	// The restored cluster has no globex demand; p2's demand there is acme's.
	rrev := c.restore(func(cli *clientv3.Client) int64 {
		resp, err := cli.Put(ctx, k.Demand("p2"), `{"t":{"acme":100}}`, clientv3.WithLease(lease.ID))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	})
	if rrev >= rev {
		t.Fatalf("etcd did not go back: demand at %d, etcd had reached %d", rrev, rev)
	}
	waitFor(t, 30*time.Second, "the demand written on the restored cluster in the shares", func() bool {
		s := shares()
		_, stale := s.Tenants["globex"]
		return near(s.Tenants["acme"], 0.1) && !stale
	})
	checks.moreChecks(t, 5) // more checks: no second rewind
	if got := sh.Rewinds(); got != 1 {
		t.Errorf("rewinds %d, want 1", got)
	}
	if w := backwardsWarnings(t, logs); len(w) != 1 || w[0].Was < rev || w[0].Now < rrev || w[0].Now >= rev {
		t.Errorf("want one warn line naming the revision reached (%d or later) and etcd's (from %d, below %d), got %+v\nall logs:\n%s", rev, rrev, rev, w, logs)
	}

	// Later demand arrives on the watch restarted from etcd's revision.
	if _, err := c.cli.Put(ctx, k.Demand("p2"), `{"t":{"initech":100}}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "demand after following etcd back in the shares", func() bool { return near(shares().Tenants["initech"], 0.1) })
}

// TestRewindChecksLinearizable: the Ledger's and the Sharer's rewind
// check is linearizable; a serializable read answered by a lagging member
// would look like etcd gone back.
func TestRewindChecksLinearizable(t *testing.T) {
	if etcdsync.RewindOp("/x").IsSerializable() {
		t.Error("the rewind check is serializable")
	}
}
