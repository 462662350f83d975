package etcdsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchLoop keeps the peers and their demand records current: a list at
// one revision, then a watch from the next; a lost watch is listed again.
// etcd found below the revision watched (restored from a backup, or a new
// cluster; see rewindGuard) is a lost watch too, listed again at once,
// counted (Rewinds) and logged once: the client would resume the watch at
// the revision it had reached, and the shares would follow the demand
// records of before the restore.
func (s *Sharer) watchLoop(ctx context.Context) {
	for ctx.Err() == nil {
		rev, err := s.list(ctx)
		if err == nil {
			err = s.follow(ctx, rev+1)
		}
		if wb, ok := errors.AsType[*wentBack](err); ok && ctx.Err() == nil {
			s.back.rewinds.Add(1)
			s.cfg.Logger.Warn().Int64("was", wb.was).Int64("now", wb.now).Msg(wb.Error() + " (restored or replaced cluster?); re-reading the members and demand records and watching from etcd's revision")
			continue
		}
		if ctx.Err() == nil {
			s.cfg.Logger.Debug().Err(err).Msg("demand watch lost; reading again")
			select {
			case <-ctx.Done():
			case <-time.After(s.cfg.Interval / 2):
			}
		}
	}
}

// list reads the members and demand records at one revision. Only a
// leased members/<pod> record is a live sidecar: a record without a lease
// (put by hand, or by anything else that may write members/) never
// lapses, and would take a share of every global limit for ever.
func (s *Sharer) list(ctx context.Context) (int64, error) {
	lctx, cancel := context.WithTimeout(ctx, max(s.cfg.Stale, time.Second))
	defer cancel()
	// Not WithKeysOnly: etcd answers that from the index alone, without the
	// leases.
	mem, err := s.cli.Get(lctx, s.k.MembersDir(), clientv3.WithPrefix())
	if err != nil {
		return 0, err
	}
	rev := mem.Header.Revision
	cluster := mem.Header.ClusterId
	dem, err := s.cli.Get(lctx, s.k.DemandDir(), clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return 0, err
	}
	s.heard()
	s.leases.forget()
	if err := s.leases.check(lctx, s.cli, slices.Concat(mem.Kvs, dem.Kvs)); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.peers)
	clear(s.demand)
	clear(s.bigPods)
	for _, kv := range mem.Kvs {
		if s.leases.live(kv.Lease) {
			s.peers[strings.TrimPrefix(string(kv.Key), s.k.MembersDir())] = true
		}
	}
	for _, kv := range dem.Kvs {
		s.setDemandLocked(kv)
	}
	s.back.reset(rev, cluster)
	return rev, nil
}

// follow applies the changes to members and demand records from rev until
// a watch fails, a check finds etcd gone back below the revision watched
// (a *wentBack), or ctx ends.
func (s *Sharer) follow(ctx context.Context, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	mem := s.cli.Watch(wctx, s.k.MembersDir(), clientv3.WithPrefix(), clientv3.WithRev(rev))
	dem := s.cli.Watch(wctx, s.k.DemandDir(), clientv3.WithPrefix(), clientv3.WithRev(rev))
	tick := time.NewTicker(s.cfg.Confirm)
	defer tick.Stop()
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case <-tick.C:
			if err := s.back.check(ctx, s.cli, s.k.DemandDir()); err != nil {
				return err
			}
			continue
		case resp, ok = <-mem:
		case resp, ok = <-dem:
		}
		if !ok {
			return errors.New("demand watch closed")
		}
		if err := resp.Err(); err != nil {
			return err
		}
		if err := s.back.answered(resp.Header.Revision, resp.Header.ClusterId); err != nil {
			return err
		}
		s.heard()
		if err := s.leases.check(ctx, s.cli, puts(resp.Events)); err != nil {
			return err
		}
		s.applyEvents(resp.Events)
		s.recompute()
	}
}

func (s *Sharer) applyEvents(evs []*clientv3.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range evs {
		key := string(ev.Kv.Key)
		if pod, ok := strings.CutPrefix(key, s.k.MembersDir()); ok {
			if ev.Type == mvccpb.DELETE || !s.leases.live(ev.Kv.Lease) {
				delete(s.peers, pod)
				delete(s.demand, pod)
			} else {
				s.peers[pod] = true
			}
			continue
		}
		pod := strings.TrimPrefix(key, s.k.DemandDir())
		if ev.Type == mvccpb.DELETE && s.peers[pod] {
			// No traffic any more: an empty record, heard now.
			s.demand[pod] = peerDemand{at: time.Now()}
		} else if ev.Type == mvccpb.PUT {
			s.setDemandLocked(ev.Kv)
		}
	}
}

// setDemandLocked decodes one demand record of a live peer; a record of
// a pod that is no live member is not kept (the sidecars' etcd role may
// put any number of them, and only members' demand counts). An
// undecodable one counts as no demand, and so does one off a short lease
// (memberLeases): a sidecar leases its record for its TTL, and one
// without a lease, or on a lease of a huge TTL, put under an idle
// sidecar's name (which writes none over it) would stand as that
// sidecar's demand for as long. A record larger than MaxDemandBytes or
// MaxDemandEntries counts as no demand too, and is counted and logged.
func (s *Sharer) setDemandLocked(kv *mvccpb.KeyValue) {
	pod := strings.TrimPrefix(string(kv.Key), s.k.DemandDir())
	delete(s.demand, pod)
	if !s.peers[pod] {
		return
	}
	if !s.leases.live(kv.Lease) {
		s.cfg.Logger.Debug().Str("pod", pod).Msg("demand record off a lease of at most MaxMemberTTL; counted as no demand")
		return
	}
	if oversized(len(kv.Value), nil) {
		s.refuseLocked(pod, len(kv.Value), -1)
		return
	}
	d := peerDemand{at: time.Now()}
	if err := json.Unmarshal(kv.Value, &d.DemandRecord); err != nil {
		s.cfg.Logger.Debug().Err(err).Str("pod", pod).Msg("undecodable demand record; counted as no demand")
		return
	}
	if oversized(len(kv.Value), &d.DemandRecord) {
		s.refuseLocked(pod, len(kv.Value), len(d.Tenants)+len(d.Clients))
		return
	}
	delete(s.bigPods, pod)
	dropUnusable(d.Tenants)
	dropUnusable(d.Clients)
	s.demand[pod] = d
}

// refuseLocked counts a demand record of pod ignored as too large and
// logs it, once per pod until the pod publishes one that is not (and for
// at most maxBigPods pods at once: the role may put records under any
// name).
func (s *Sharer) refuseLocked(pod string, size, entries int) {
	s.refused.Add(1)
	if s.bigPods[pod] || len(s.bigPods) >= maxBigPods {
		return
	}
	if s.bigPods == nil {
		s.bigPods = map[string]bool{}
	}
	s.bigPods[pod] = true
	log := s.cfg.Logger.Warn().Str("pod", pod).Int("bytes", size).Int("max_bytes", MaxDemandBytes).Int("max_entries", MaxDemandEntries)
	if entries >= 0 {
		log = log.Int("entries", entries)
	}
	log.Msg("demand record too large; ignored (counted as no demand): a sidecar writes none this large, so suspect a stolen sidecar certificate")
}

// maxBigPods bounds the pods whose refused demand records are logged.
const maxBigPods = 64

// dropUnusable deletes the rates of m that are no demand: zero, negative
// or not finite. A negative rate would shrink the deployment's total
// below another sidecar's own demand and give that sidecar a share above
// the whole limit.
func dropUnusable(m map[string]float64) {
	for id, r := range m {
		if !(r > 0) || math.IsInf(r, 0) {
			delete(m, id)
		}
	}
}

// MaxMemberTTL is the longest lease a members/<pod> record may sit on and
// count as a live sidecar (a Syncer's MemberTTL is at most this), and a
// demand/<pod> record count as its demand (a Sharer's TTL is at most
// this). The
// sidecars' etcd role may grant any lease, up to etcd's 9,000,000,000 s:
// a record on a lease that long would never lapse, as one without a lease
// would not, and would take a share of every global limit long after the
// certificate that wrote it was revoked.
const MaxMemberTTL = time.Minute

// memberLeases remembers which leases of member and demand records are short enough
// (MaxMemberTTL) to count, asking etcd once per lease: a lease's granted
// TTL never changes. The watch loop (and Prime, before it) use it.
type memberLeases struct {
	mu sync.Mutex
	ok map[int64]bool // by lease id: its granted TTL is at most MaxMemberTTL
}

// forget drops what is known, so that a list starts afresh and the map
// holds only the leases of records still there.
func (m *memberLeases) forget() {
	m.mu.Lock()
	m.ok = nil
	m.mu.Unlock()
}

// live reports whether a member record on lease counts: leased, on a
// lease check found short enough.
func (m *memberLeases) live(lease int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return lease != 0 && m.ok[lease]
}

// check asks etcd the granted TTL of each lease of kvs not known yet. A
// lease etcd no longer has (the record goes with it), or will not say,
// counts as too long; any other error is returned (etcd unreachable).
func (m *memberLeases) check(ctx context.Context, cli *clientv3.Client, kvs []*mvccpb.KeyValue) error {
	for _, kv := range kvs {
		m.mu.Lock()
		_, known := m.ok[kv.Lease]
		m.mu.Unlock()
		if kv.Lease == 0 || known {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := cli.TimeToLive(lctx, clientv3.LeaseID(kv.Lease))
		cancel()
		if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) && !errors.Is(err, rpctypes.ErrPermissionDenied) {
			return fmt.Errorf("cannot read the lease of member record %q: %w", kv.Key, err)
		}
		short := err == nil && resp.GrantedTTL > 0 && resp.GrantedTTL <= int64(MaxMemberTTL/time.Second)
		m.mu.Lock()
		if m.ok == nil || len(m.ok) >= maxLeasesKnown {
			m.ok = map[int64]bool{} // the peers decided on keep their verdict
		}
		m.ok[kv.Lease] = short
		m.mu.Unlock()
	}
	return nil
}

// maxLeasesKnown bounds memberLeases between two lists: the sidecars'
// role may grant any number of leases.
const maxLeasesKnown = 4096

// puts returns the records put in evs (member and demand records).
func puts(evs []*clientv3.Event) []*mvccpb.KeyValue {
	var kvs []*mvccpb.KeyValue
	for _, ev := range evs {
		if ev.Type == mvccpb.PUT {
			kvs = append(kvs, ev.Kv)
		}
	}
	return kvs
}
