package etcdsync

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// rewindGuard finds etcd gone back in revision under a watcher other than
// the Syncer (the Ledger's approvals, the Sharer's demand records). etcd
// restored from a backup, or replaced by a new cluster, answers below the
// revision the watcher had reached; the client library resumes the watch
// at that revision, now in etcd's future, so nothing written since arrives
// on it. As the Syncer's confirm does, the watcher reads etcd every
// interval, linearizably (never serializable: a member lagging behind
// what the watch delivered would look like etcd gone back), and a header
// revision below the highest seen before the read ends the watch with a
// *wentBack, after which the watcher reads everything again and watches
// from that read (followed).
//
// seen is touched only by the watcher's goroutine; rewinds is read by
// metrics.
type rewindGuard struct {
	seen    int64
	rewinds atomic.Int64
}

// saw records a revision read from etcd (a watch response, a check).
func (g *rewindGuard) saw(rev int64) { g.seen = max(g.seen, rev) }

// reset makes rev, a whole read, the revision reached.
func (g *rewindGuard) reset(rev int64) { g.seen = rev }

// check reads key (count only) linearizably and returns a *wentBack when
// etcd answers below the revision seen. A failed read is no finding: the
// watch reports an unreachable etcd.
func (g *rewindGuard) check(ctx context.Context, cli *clientv3.Client, key string) error {
	seen := g.seen
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := cli.Do(cctx, rewindOp(key))
	if err != nil {
		return nil
	}
	rev := resp.Get().Header.Revision
	if rev < seen {
		return &wentBack{was: seen, now: rev}
	}
	// etcd was at rev: answering below it later is going back, whether or
	// not the watch (which sees only its keys' changes) has reached it.
	g.saw(rev)
	return nil
}

// rewindOp is check's read: linearizable, count only.
func rewindOp(key string) clientv3.Op { return clientv3.OpGet(key, clientv3.WithCountOnly()) }

// wentBack ends a watch when etcd answered at now, below the revision
// was the watcher had seen.
type wentBack struct{ was, now int64 }

func (e *wentBack) Error() string {
	return fmt.Sprintf("etcd revision went backwards from %d to %d", e.was, e.now)
}
