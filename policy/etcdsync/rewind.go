package etcdsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
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
// A read or watch response from another cluster (its header's cluster
// id differs from the one of the last whole read) is a *wentBack too,
// whatever its revision: a replacing cluster may be past the revision
// watched, and the watch resumed there follows a state never read.
//
// seen and cluster are touched only by the watcher's goroutine; rewinds
// is read by metrics.
type rewindGuard struct {
	seen    int64
	cluster uint64 // of the last whole read (0: unknown)
	rewinds atomic.Int64
}

// saw records a revision read from etcd (a watch response, a check).
func (g *rewindGuard) saw(rev int64) { g.seen = max(g.seen, rev) }

// reset makes rev, a whole read of cluster, the revision reached.
func (g *rewindGuard) reset(rev int64, cluster uint64) { g.seen, g.cluster = rev, cluster }

// answered records a watch response's header, or returns a *wentBack
// when another cluster sent it.
func (g *rewindGuard) answered(rev int64, cluster uint64) error {
	if otherCluster(g.cluster, cluster) {
		return &wentBack{was: g.seen, now: rev, wasCluster: g.cluster, nowCluster: cluster}
	}
	g.saw(rev)
	return nil
}

// check reads key (count only) linearizably and returns a *wentBack when
// etcd answers below the revision seen, or from another cluster. A
// failed read is no finding: the watch reports an unreachable etcd.
func (g *rewindGuard) check(ctx context.Context, cli *clientv3.Client, key string) error {
	seen := g.seen
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := cli.Do(cctx, rewindOp(key))
	if err != nil {
		return nil
	}
	h := resp.Get().Header
	if h.Revision < seen {
		return &wentBack{was: seen, now: h.Revision}
	}
	// etcd was at rev: answering below it later is going back, whether or
	// not the watch (which sees only its keys' changes) has reached it.
	return g.answered(h.Revision, h.ClusterId)
}

// otherCluster reports whether cluster ids was and now, both known (not
// 0), differ.
func otherCluster(was, now uint64) bool { return was != 0 && now != 0 && was != now }

// clusterHex renders a cluster id as etcdctl prints it.
func clusterHex(id uint64) string { return strconv.FormatUint(id, 16) }

// rewindOp is check's read: linearizable, count only.
func rewindOp(key string) clientv3.Op { return clientv3.OpGet(key, clientv3.WithCountOnly()) }

// wentBack ends a watch when etcd answered at now, below the revision
// was the watcher had seen, or from cluster nowCluster, not wasCluster
// (both 0 when the cluster is the same).
type wentBack struct {
	was, now               int64
	wasCluster, nowCluster uint64
}

func (e *wentBack) Error() string {
	if e.wasCluster != e.nowCluster {
		return fmt.Sprintf("etcd cluster id changed from %s to %s (revision %d, then %d)", clusterHex(e.wasCluster), clusterHex(e.nowCluster), e.was, e.now)
	}
	return fmt.Sprintf("etcd revision went backwards from %d to %d", e.was, e.now)
}

// hold keeps in force the revocations of prev, the state applied, that
// st, read from etcd gone back in revision, lacks: a restored backup that
// predates them would bring the revoked keys back on every sidecar.
// There is no un-revoke, so a revocation etcd lost is one to keep. A held
// revocation stays (and the last-known-good file carries it across
// restarts) until etcd holds a revocation of that id again (revoked again:
// durable in etcd). A key leaving the policy does not end it: a record
// put back as it was (from a dump, or a newer backup restored) would
// authenticate again, since etcd holds no revocation of it.
func (s *Syncer) hold(prev, st *State) {
	var ids []string
	for id, v := range prev.Revocations {
		if _, ok := st.Revocations[id]; ok {
			continue
		}
		if _, ok := s.held[id]; ok {
			continue // held already, and logged then
		}
		s.holdOne(id, v)
		ids = append(ids, id)
	}
	if len(ids) > 0 {
		slices.Sort(ids)
		s.cfg.Logger.Error().Int64("was", prev.Revision).Int64("now", st.Revision).Strs("revocations", ids).
			Msg("etcd went back in revision and lost revocations in force: they stay in force on this sidecar; revoke them again in etcd (portcullis keys revoke) to make them durable")
	}
	s.holdSuspensions(prev, st)
}

// holdLost keeps in force the revocations of prev, the state applied, that
// st, read from etcd and found no rewind, lacks though they have not
// lapsed: a token's with an expiry until it lapses (holdLapsing), any
// other unless etcd's history shows it deleted. Nothing deletes such a
// revocation (PruneRevocations deletes a token's once lapsed, and there
// is no un-revoke), so its absence is etcd gone back where the
// witnesses could not tell: a restored backup compacted past them, whose
// witness keys a revocation or suspension created (a key gone looks as
// one deleted since: TestRestoredBackupCompactedPastTheRevocationKeepsIt).
// One etcd held at prev's revision was deleted since in its history (by
// hand, while the watch was away: TestRandomWritesMatchCompile deletes
// some) and is let go; a history compacted past prev's revision cannot
// show that, and the revocation is held. When etcd does not answer (down,
// a timeout) it is kept in force and asked about again at the next read
// whole (untold, settleUntold): held for good, one deleted by hand stayed
// refused on this sidecar alone (TestLostRevocationUntoldIsAskedAgain).
// Suspensions are not held so: lifting one is a deletion.
func (s *Syncer) holdLost(prev, st *State) {
	let := s.settleUntold(st)
	now := s.cfg.Now()
	var lost []string
	for id, v := range prev.Revocations {
		if _, ok := st.Revocations[id]; ok {
			continue
		}
		if _, ok := s.held[id]; ok || let[id] {
			continue // held already, and logged then; or let go just now
		}
		if r := (Revocation{}); json.Unmarshal([]byte(v), &r) == nil && r.ID == id && r.Lapsed(now) {
			continue
		}
		if lapsing(id, v, now) {
			s.holdLapsing(id, v, "read")
			continue
		}
		lost = append(lost, id)
	}
	if len(lost) == 0 {
		return
	}
	held, told := s.heldAt(prev.Revision)
	var ids []string
	for _, id := range lost {
		if held[id] {
			continue
		}
		s.holdOne(id, prev.Revocations[id])
		ids = append(ids, id)
		if !told {
			if s.untold == nil {
				s.untold = map[string]int64{}
			}
			s.untold[id] = prev.Revision
		}
	}
	s.logGone(prev, st, "revocations", ids, told,
		"revocations in force are gone from etcd, which did not answer whether its history shows them deleted: they stay in force on this sidecar, and etcd is asked again at the next read",
		"revocations in force are gone from etcd, which never deletes one before it lapses, and its history does not show them deleted: etcd went back (a restored backup?) or they were deleted by hand; they stay in force on this sidecar; revoke them again in etcd (portcullis keys revoke, --held for a key gone) to make them durable")
}

// logGone writes the error line naming names, the what (revocations,
// suspensions) in force that went from etcd and are held: untold when
// etcd did not answer (told false), else toldMsg.
func (s *Syncer) logGone(prev, st *State, what string, names []string, told bool, untold, toldMsg string) {
	if len(names) == 0 {
		return
	}
	slices.Sort(names)
	msg := toldMsg
	if !told {
		msg = untold
	}
	s.cfg.Logger.Error().Int64("was", prev.Revision).Int64("now", st.Revision).Strs(what, names).Msg(msg)
}

// holdOne holds v, the revocation of id in force.
func (s *Syncer) holdOne(id, v string) {
	if s.held == nil {
		s.held = map[string]string{}
	}
	s.held[id] = v
	s.heldN.Store(int64(len(s.held)))
}

// holdLapsing holds v, a token's revocation in force (id) that etcd no
// longer has though it has not lapsed on this sidecar's clock (lapsing),
// until it lapses on that clock; how says whether a watch saw it deleted
// or a read found it gone. Whatever took it (keys prune-revocations run
// on a machine whose clock is fast, a hand, etcd gone back), the token it
// names is refused by its exp on this sidecar's clock only once the
// revocation has lapsed on it: a revocation lifted before let the token
// in for the minutes the two clocks differ (TestPrunedEarlyKeepsRevocation).
// A key's revocation, or a token's without an expiry, never lapses, and
// its deletion by hand is followed (holdLost).
//
// Such a hold ends at the lapse, or when etcd holds the revocation again,
// never at etcd's answer about an earlier record of the id that holdLost
// left untold (deleted by hand while etcd did not answer): settleUntold,
// finding that record deleted, let go of this one with it, and the token
// got in (TestPrunedEarlyAfterUntoldKeepsRevocation).
func (s *Syncer) holdLapsing(id, v, how string) {
	s.holdOne(id, v)
	delete(s.untold, id)
	r, _ := decodeRevocation(v)
	s.cfg.Logger.Error().Str("revocation", id).Time("expires", r.Expires).Str("seen", how).
		Msg("a token revocation is gone from etcd before it lapsed on this sidecar's clock (keys prune-revocations run where the clock is fast?): it stays in force on this sidecar until it lapses")
}

// keepLapsing puts back in the state applied the revocation of id that a
// watch event deleted, when was, its record, is a token's that has not
// lapsed on this sidecar's clock (holdLapsing).
func (s *Syncer) keepLapsing(id, was string) {
	if !lapsing(id, was, s.cfg.Now()) {
		return
	}
	s.st.Revocations[id] = was
	s.holdLapsing(id, was, "deleted")
}

// settleUntold asks etcd again about the untold revocations st, read
// whole, still lacks: one its history held at the revision it went is let
// go (deleted by hand), one a history compacted past there cannot show is
// held for good, and one etcd still does not answer for waits for the
// next read. An untold one in st again, or let go meanwhile, is settled.
// It returns the ids let go: prev, the state applied, holds them still.
func (s *Syncer) settleUntold(st *State) map[string]bool {
	var let map[string]bool
	byRev := map[int64][]string{}
	for id, rev := range s.untold {
		_, again := st.Revocations[id]
		if _, held := s.held[id]; again || !held {
			delete(s.untold, id)
			continue
		}
		byRev[rev] = append(byRev[rev], id)
	}
	for rev, ids := range byRev {
		held, told := s.heldAt(rev)
		if !told {
			continue
		}
		for _, id := range ids {
			delete(s.untold, id)
			if held[id] {
				delete(s.held, id)
				if let == nil {
					let = map[string]bool{}
				}
				let[id] = true
				s.cfg.Logger.Info().Str("revocation", id).Msg("a revocation kept in force while etcd did not answer was deleted from etcd since (by hand) and is let go")
			}
		}
	}
	return let
}

// heldAt returns the ids of the revocations etcd's history holds at rev,
// read linearizably, and told false when etcd does not answer (a history
// compacted past rev is told: it cannot show them, and none is held).
func (s *Syncer) heldAt(rev int64) (map[string]bool, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.k.RevocationsDir(), clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithKeysOnly())
	if errors.Is(err, rpctypes.ErrCompacted) {
		return nil, true
	}
	if err != nil {
		return nil, false
	}
	held := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		held[strings.TrimPrefix(string(kv.Key), s.k.RevocationsDir())] = true
	}
	return held, true
}

// holdLostSuspensions keeps in force, until its until, a suspension of
// prev, the state applied, that st, read from etcd and found no rewind,
// lacks before its until (or holds only an older, shorter suspension of
// the client, as holdSuspensions has it: supersedes), unless etcd has a resumption of it or of a
// later suspension of the client (etcdadmin's Resume writes one as it
// lifts a suspension; a lease that ends one ends it at its until). A
// suspension gone otherwise was lost by etcd going back where the
// witnesses could not tell: a restored backup compacted past them, or
// restored with its revision bumped and marked compacted (etcdutl snapshot
// restore --bump-revision --mark-compacted), whose witness was that
// suspension, a key gone (TestRestoredBackupCompactedPastTheSuspensionKeepsIt).
// One deleted by hand is held too (suspend the client again, then resume
// it). A held suspension st lacks is let go at any read whole that finds
// such a resumption, whether or not this sidecar saw the suspension again
// and its resumption on its watch. When etcd does not answer, the
// suspension stays in force and etcd is asked again at the next read
// whole (untoldSusp).
func (s *Syncer) holdLostSuspensions(prev, st *State) {
	now := s.cfg.Now()
	var lost []string
	for client, v := range prev.Suspensions {
		if ev, ok := st.Suspensions[client]; ok && supersedes(ev, v) {
			continue // an older, shorter one is the restored etcd's (TestRestoredOlderSuspensionCompactedPastKeepsHeld)
		}
		if sp, err := DecodeSuspension(v); err != nil || sp.Until.IsZero() || !now.Before(sp.Until) {
			continue
		}
		lost = append(lost, client)
	}
	// A suspension held already (over etcd going back, from the
	// last-known-good file, or untold) that st lacks is asked about too:
	// the way to lift one early is to suspend the client again and resume
	// it, and a sidecar that saw neither on its watch (restarted, or its
	// watch resumed past a compaction) learns it only from the resumption
	// (TestHeldSuspensionLiftedBySuspendAndResume).
	var gone []string
	for client, v := range s.heldSusp {
		if ev, ok := st.Suspensions[client]; !ok || !supersedes(ev, v) {
			gone = append(gone, client)
		}
	}
	if len(lost)+len(gone) == 0 {
		clear(s.untoldSusp)
		return
	}
	resumed, told := s.resumptions()
	if told {
		for _, client := range gone {
			if resumedOf(resumed, client, s.heldSusp[client]) {
				delete(s.heldSusp, client)
				if s.untoldSusp[client] {
					s.cfg.Logger.Info().Str("suspension", client).Msg("a suspension kept in force while etcd did not answer was resumed (clients resume) and is lifted")
				} else {
					s.cfg.Logger.Info().Str("suspension", client).Msg("a suspension held over etcd going back was resumed in etcd since (suspended again and resumed) and is lifted")
				}
			}
		}
		clear(s.untoldSusp)
	}
	var clients []string
	for _, client := range lost {
		v := prev.Suspensions[client]
		if _, held := s.heldSusp[client]; held || told && resumedOf(resumed, client, v) {
			continue
		}
		if s.heldSusp == nil {
			s.heldSusp = map[string]string{}
		}
		s.heldSusp[client] = v
		clients = append(clients, client)
		if !told {
			if s.untoldSusp == nil {
				s.untoldSusp = map[string]bool{}
			}
			s.untoldSusp[client] = true
		}
	}
	s.logGone(prev, st, "suspensions", clients, told,
		"suspensions in force are gone from etcd before their until, which did not answer whether they were resumed: they stay in force on this sidecar, and etcd is asked again at the next read",
		"suspensions in force are gone from etcd before their until, and etcd holds no resumption of them: etcd went back (a restored backup?) or they were deleted by hand; they stay in force on this sidecar until their until; suspend them again in etcd (portcullis clients suspend) to make them durable, or to lift one early suspend it again and resume it")
}

// resumptions reads the resumptions in etcd, by client, linearizably, and
// told false when etcd does not answer.
func (s *Syncer) resumptions() (map[string]Resumption, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.k.ResumedDir(), clientv3.WithPrefix())
	if err != nil {
		return nil, false
	}
	out := make(map[string]Resumption, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var r Resumption
		if json.Unmarshal(kv.Value, &r) == nil {
			out[strings.TrimPrefix(string(kv.Key), s.k.ResumedDir())] = r
		}
	}
	return out, true
}

// resumedOf reports whether resumed holds a resumption of v, client's
// suspension, or of a later suspension of the client.
func resumedOf(resumed map[string]Resumption, client, v string) bool {
	r, ok := resumed[client]
	sp, err := DecodeSuspension(v)
	return ok && err == nil && r.Client == client && !r.Suspended.Before(sp.Time)
}

// holdSuspensions keeps in force, until their until, the suspensions of
// prev that st, read from etcd gone back in revision, lacks or holds only
// an older, shorter suspension of (supersedes): a restored
// backup that predates a suspension (an incident's containment) would
// otherwise lift it on every sidecar. Unlike a revocation a suspension
// ends, so a held one ends at its until as well as when etcd holds a
// suspension of that client again (suspended again: durable in etcd, and
// from then on lifted by `clients resume` as any other). A record that
// does not decode has no until to end at and is not held: it fails
// closed while etcd has it, as an invalid record does.
func (s *Syncer) holdSuspensions(prev, st *State) {
	now := s.cfg.Now()
	var clients []string
	for client, v := range prev.Suspensions {
		if ev, ok := st.Suspensions[client]; ok && supersedes(ev, v) {
			continue
		}
		if _, ok := s.heldSusp[client]; ok {
			continue // held already, and logged then
		}
		if sp, err := DecodeSuspension(v); err != nil || sp.Until.IsZero() || !now.Before(sp.Until) {
			continue
		}
		if s.heldSusp == nil {
			s.heldSusp = map[string]string{}
		}
		s.heldSusp[client] = v
		clients = append(clients, client)
	}
	if len(clients) == 0 {
		return
	}
	slices.Sort(clients)
	s.cfg.Logger.Error().Int64("was", prev.Revision).Int64("now", st.Revision).Strs("suspensions", clients).
		Msg("etcd went back in revision and lost suspensions in force: they stay in force on this sidecar until their until; suspend them again in etcd (portcullis clients suspend) to make them durable, or to lift one early suspend it again and resume it")
}

// mergeHeld puts the held revocations into st, read from etcd, and lets go
// of those etcd holds again.
func (s *Syncer) mergeHeld(st *State) {
	now := s.cfg.Now()
	for id, v := range s.held {
		if _, ok := st.Revocations[id]; ok {
			delete(s.held, id)
			s.cfg.Logger.Info().Str("revocation", id).Msg("a revocation held over etcd going back is in etcd again")
			continue
		}
		// A token's revocation past the token's exp and the most skew
		// allowed admits nothing more than the token does (Lapsed), as
		// PruneRevocations has it.
		if r := (Revocation{}); json.Unmarshal([]byte(v), &r) == nil && r.ID == id && r.Lapsed(now) {
			delete(s.held, id)
			s.cfg.Logger.Info().Str("revocation", id).Msg("a revocation held over etcd going back lapsed with its token and is let go")
			continue
		}
		st.Revocations[id] = v
	}
	s.heldN.Store(int64(len(s.held)))
	for client, v := range s.heldSusp {
		if ev, ok := st.Suspensions[client]; ok && supersedes(ev, v) {
			delete(s.heldSusp, client)
			s.cfg.Logger.Info().Str("suspension", client).Msg("a suspension held over etcd going back is in etcd again")
			continue
		}
		if sp, err := DecodeSuspension(v); err != nil || !now.Before(sp.Until) {
			delete(s.heldSusp, client)
			s.cfg.Logger.Info().Str("suspension", client).Msg("a suspension held over etcd going back reached its until and is lifted")
			continue
		}
		st.Suspensions[client] = v
	}
	st.HeldSuspensions = maps.Clone(s.heldSusp)
	s.heldSN.Store(int64(len(s.heldSusp)))
}

// supersedes reports whether v, a suspension of a client read from etcd,
// ends the hold of held, the client's suspension kept over etcd going
// back: one written since held, or lasting as long. An older, shorter one
// is the restored backup's own record of an earlier suspension of the
// client (extended after the backup was taken), whose lease the restore
// restarted: ending the hold on it lifted the client when that lease ran
// out (TestRestoredOlderSuspensionKeepsHeld). Nor does a containment's
// shorter one written since (AtLeast: an alert's rule suspending for 15
// minutes), which never shortens a suspension in force and would have
// ended a day's held one (TestContainmentKeepsHeldSuspension). A record
// that does not decode supersedes: it fails closed while etcd has it.
func supersedes(v, held string) bool {
	e, err := DecodeSuspension(v)
	h, herr := DecodeSuspension(held)
	if err != nil || herr != nil {
		return true
	}
	if !e.Until.Before(h.Until) {
		return true
	}
	return e.Time.After(h.Time) && !e.AtLeast
}

// keepDeleted puts back the held suspension that key, a record deleted
// from etcd (a watch event), was the client's slot of: the older record
// the hold overrode (supersedes) ran out, the held one has not.
func (s *Syncer) keepDeleted(key string) {
	client, ok := strings.CutPrefix(key, s.k.SuspensionsDir())
	if v, held := s.heldSusp[client]; ok && held {
		s.st.Suspensions[client] = v
	}
}

// releaseWritten lets go of the held revocation that key, a record put
// in etcd (a watch event), is: revoked again, it is in etcd once more.
// A suspension lets go of the hold of its client only if it supersedes
// it, as on a re-read (mergeHeld): an older, shorter record put back as
// it was (a dump replayed) ended the hold, and the client was served once
// that record's lease ran out (TestRestoredOlderSuspensionPutBackKeepsHeld);
// the held one stays in force over it until its until, past which the
// record put stands, as etcd has it.
func (s *Syncer) releaseWritten(key, value string) {
	if client, ok := strings.CutPrefix(key, s.k.SuspensionsDir()); ok {
		if v, held := s.heldSusp[client]; held {
			if sp, err := DecodeSuspension(v); err == nil && s.cfg.Now().Before(sp.Until) && !supersedes(value, v) {
				s.st.Suspensions[client] = v
				return
			}
			delete(s.heldSusp, client)
			delete(s.st.HeldSuspensions, client)
			s.heldSN.Store(int64(len(s.heldSusp)))
			s.cfg.Logger.Info().Str("suspension", client).Msg("a suspension held over etcd going back is in etcd again")
		}
		return
	}
	id, ok := strings.CutPrefix(key, s.k.RevocationsDir())
	if _, held := s.held[id]; !ok || !held {
		return
	}
	delete(s.held, id)
	delete(s.untold, id) // in etcd again: nothing left to ask about the record that went
	s.heldN.Store(int64(len(s.held)))
	s.cfg.Logger.Info().Str("revocation", id).Msg("a revocation held over etcd going back is in etcd again")
}
