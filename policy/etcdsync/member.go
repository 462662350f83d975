package etcdsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// confirmLoop asks etcd every Progress whether the state applied is
// current, so the Store hears from etcd while nothing changes (the
// staleness bound). Two questions, because neither suffices alone: a
// progress notification answers on the watch, but etcd sends none to a
// watcher whose start revision is ahead of the store, which is where the
// client resumes a watch after a reconnect on an idle cluster
// (TestStalenessBound); a linearizable read answers that case, since a
// store revision no later than the one applied means nothing is missed.
// A revision below the one applied is no confirmation: etcd went back
// (restored or replaced), and the watch, resumed at the revision it had
// reached, will not deliver what is written now; confirm hands it to the
// watch, which re-reads the state and follows etcd (see reconcile).
func (s *Syncer) confirmLoop(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Progress)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.confirm(ctx)
		}
	}
}

func (s *Syncer) confirm(ctx context.Context) {
	if !s.current.Load() {
		return // a re-read is due; it confirms by itself
	}
	// At least a second: a shorter timeout on a loaded machine would report
	// an outage that is not one (issue 13 item 8 logs each outage).
	pctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), max(s.cfg.Progress, time.Second))
	defer cancel()
	if err := s.cli.RequestProgress(pctx); err != nil {
		s.cfg.Logger.Debug().Err(err).Msg("cannot request watch progress")
	}
	// Loaded before the read: the watch may apply a later revision while
	// it runs, which must not look like etcd going back.
	applied := s.revision.Load()
	resp, err := s.cli.Do(pctx, confirmOp(s.k))
	if err != nil {
		s.lost(err, "cannot confirm the policy revision")
		return
	}
	s.reached()
	h := resp.Get().Header
	switch rev := h.Revision; {
	case otherCluster(s.cluster.Load(), h.ClusterId):
		s.cfg.Logger.Debug().Str("applied_cluster", clusterHex(s.cluster.Load())).Str("etcd_cluster", clusterHex(h.ClusterId)).Msg("etcd answered with another cluster id; re-reading the policy state")
		select {
		case s.back <- struct{}{}:
		default:
		}
	case rev < applied:
		s.cfg.Logger.Debug().Int64("applied", applied).Int64("etcd", rev).Msg("etcd answered below the revision applied; re-reading the policy state")
		select {
		case s.back <- struct{}{}:
		default:
		}
	default:
		if rev <= s.revision.Load() {
			s.store.Heard(time.Now().UnixNano())
		}
		s.confirmWitness(pctx)
	}
}

// confirmOp is confirm's read: linearizable, never serializable
// (TestStateReadsLinearizable), so its revision is etcd's, not that of a
// member lagging behind what the watch delivered.
func confirmOp(k Layout) clientv3.Op {
	return clientv3.OpGet(k.Policy(), clientv3.WithCountOnly())
}

// saveGap is the least time between two writes of the last-known-good
// file: in a burst of changes only the latest state is worth an fsync
// (BenchmarkRevocationPropagation: the writes competed with the watch for
// the CPU). A write that takes longer is followed by saveSpacing times its
// duration: at 100,000 key records a write is 160-210 ms of CPU
// (BenchmarkWriteLKG), which a burst of revocations must not turn into
// most of a sidecar's core.
const (
	saveGap     = 100 * time.Millisecond
	saveSpacing = 4
)

// saveRetry bounds the wait before a failed save of the last-known-good
// file is tried again, when no newer state has come to replace it: from
// its first value, doubling, to its second. A disk that fills and is
// freed must not leave the file behind until the next change.
var saveRetry = [2]time.Duration{time.Second, 30 * time.Second}

// saveLoop writes each state offered on s.saves to the last-known-good
// file, off the watch path, trying a failed one again until it is saved
// or a newer one comes; when ctx ends it writes what is still waiting.
func (s *Syncer) saveLoop(ctx context.Context) {
	var failed *State // the latest state, not saved
	retry := saveRetry[0]
	for {
		var again <-chan time.Time
		if failed != nil {
			again = time.After(retry)
		}
		select {
		case st := <-s.saves:
			start := time.Now()
			failed, retry = nil, saveRetry[0]
			if !s.save(st) {
				failed = st
			}
			select {
			case <-ctx.Done():
			case <-time.After(max(saveGap, saveSpacing*time.Since(start))):
			}
		case <-again:
			if s.save(failed) {
				failed = nil
			}
			retry = min(2*retry, saveRetry[1])
		case <-ctx.Done():
			select {
			case st := <-s.saves:
				failed = st
			default:
			}
			if failed != nil {
				s.save(failed)
			}
			return
		}
	}
}

// memberLoop keeps members/<pod> on a lease while ctx lasts, rewriting it
// (at most twice a second) when the applied revision changes, and revokes
// the lease at the end so the member disappears at once.
func (s *Syncer) memberLoop(ctx context.Context) {
	if s.cfg.Pod == "" {
		return
	}
	started := s.cfg.Now().UTC()
	for ctx.Err() == nil {
		err := s.memberSession(ctx, started)
		if ctx.Err() == nil {
			s.cfg.Logger.Debug().Err(err).Msg("member record lost; renewing")
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// memberSession grants a lease, writes the record on it and keeps both
// alive until the lease is lost or ctx ends.
func (s *Syncer) memberSession(ctx context.Context, started time.Time) error {
	lease, err := s.cli.Grant(ctx, int64(max(s.cfg.MemberTTL/time.Second, 1)))
	if err != nil {
		return err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		if _, err := s.cli.Revoke(rctx, lease.ID); err != nil {
			s.cfg.Logger.Debug().Err(err).Msg("cannot revoke the member lease; the record lapses at its TTL")
		}
		cancel()
	}()
	alive, err := s.cli.KeepAlive(ctx, lease.ID)
	if err != nil {
		return err
	}
	for {
		if err := s.putMember(ctx, lease.ID, started); err != nil {
			return err
		}
		if err := s.awaitMark(ctx, alive); err != nil {
			return err
		}
	}
}

// awaitMark waits for a revision change, draining keep-alive answers, then
// for half a second more so a burst of changes makes one write.
func (s *Syncer) awaitMark(ctx context.Context, alive <-chan *clientv3.LeaseKeepAliveResponse) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case _, ok := <-alive:
			if !ok {
				return errors.New("member lease keep-alive ended")
			}
		case <-s.marks:
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
				return nil
			}
		}
	}
}

func (s *Syncer) putMember(ctx context.Context, lease clientv3.LeaseID, started time.Time) error {
	m := Member{Pod: s.cfg.Pod, Revision: s.revision.Load(), Digest: s.digest(), PolicyDigest: s.policyDigest(), Started: started, Updated: s.cfg.Now().UTC()}
	op, err := putJSON(s.k.Member(s.cfg.Pod), m, clientv3.WithLease(lease))
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = s.cli.Do(pctx, op)
	return err
}

// putJSON returns the put of v as JSON at key.
func putJSON(key string, v any, opts ...clientv3.OpOption) (clientv3.Op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return clientv3.Op{}, fmt.Errorf("cannot encode record %q: %w", key, err)
	}
	return clientv3.OpPut(key, string(b), opts...), nil
}

// policyDigest returns the SHA-256, hex, of the policy document the
// Syncer has in force, as pushed, or "".
func (s *Syncer) policyDigest() string {
	if snap := s.store.Load(); snap != nil {
		return snap.Doc.SourceDigest()
	}
	return ""
}
