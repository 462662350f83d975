package etcdsync

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcd restored from a backup and written past the revision a reader had
// reached answers above it, so comparing revisions (rewindGuard, the
// re-reads) cannot tell it went back: a sidecar restarted across such a
// restore, or one whose checks all fell before the restored etcd climbed
// past, read the restored state as a later one and lifted the
// revocations etcd lost. A Witness is a write the reader applied: etcd's
// history not holding it at its revision is etcd gone back as well.

// Witness names a write of etcd's history: a key and the revision etcd
// wrote it at (its mod revision). The zero Witness names none.
type Witness struct {
	Key      string `json:"key"`
	Revision int64  `json:"revision"`
}

// Holding is what a read of etcd's history found of a Witness.
type Holding uint8

const (
	// Untold: no witness, or etcd did not answer; a later read may tell.
	Untold Holding = iota
	// Held: etcd's history holds the write.
	Held
	// NotHeld: etcd's history holds another write of the key at the
	// witness's revision, or none, or is below it: etcd went back.
	NotHeld
	// Passed: etcd's history is compacted past the witness and its key
	// written since, so no read will tell (the key as it is now was
	// written later, in the old history or the new).
	Passed
	// Gone: etcd's history is compacted past the witness and its key is
	// gone: deleted since, or never written (etcd went back). A reader
	// whose witness keys nothing deletes takes it for NotHeld.
	Gone
)

func (h Holding) String() string {
	switch h {
	case Held:
		return "held"
	case NotHeld:
		return "not held"
	case Passed:
		return "passed"
	case Gone:
		return "gone"
	}
	return "untold"
}

// HistoryHolds reads whether etcd's history holds w, linearizably (a
// member lagging behind has applied it first). A witness above etcd's
// revision is NotHeld. A history compacted past w is read as it is now:
// the key still written at w.Revision is Held, and one last written
// before it NotHeld, since etcd's history never wrote it there (a
// history compacted past the witness used to be Untold for good, and
// etcd compacts by default; TestRestoredBackupCompactedKeepsRevocations);
// a key written since is Passed, and one gone Gone.
func HistoryHolds(ctx context.Context, cli *clientv3.Client, w Witness) Holding {
	if w.Revision <= 0 {
		return Untold
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := cli.Get(cctx, w.Key, clientv3.WithRev(w.Revision), clientv3.WithKeysOnly())
	switch {
	case errors.Is(err, rpctypes.ErrFutureRev):
		return NotHeld
	case errors.Is(err, rpctypes.ErrCompacted):
		if resp, err = cli.Get(cctx, w.Key, clientv3.WithKeysOnly()); err != nil {
			return Untold
		}
		switch {
		case len(resp.Kvs) == 1 && resp.Kvs[0].ModRevision == w.Revision:
			return Held
		case len(resp.Kvs) == 1 && resp.Kvs[0].ModRevision < w.Revision:
			return NotHeld
		case len(resp.Kvs) == 0:
			return Gone
		}
		return Passed
	case err != nil:
		return Untold
	case len(resp.Kvs) == 1 && resp.Kvs[0].ModRevision == w.Revision:
		return Held
	}
	return NotHeld
}

// witnesses are a Syncer's witnesses: check, the state write the next
// check reads etcd's history for, first, the first one applied since
// (zero: none), and next, the last one applied since. check moves on to
// next only once etcd's history is found to hold it, so that a write of
// the restored history the watch applied in between never stands in for
// it; first is the write of the old history a sidecar cut off just after
// it applied, when the watch has applied the restored etcd's since.
type witnesses struct {
	check, first, next Witness
}

// all returns the witnesses to read, each once.
func (ws witnesses) all() []Witness {
	var out []Witness
	for _, w := range [...]Witness{ws.check, ws.first, ws.next} {
		if w.Revision > 0 && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// earlierWitnesses returns the witnesses other than last (the state's
// Witness) that the next check reads, for the last-known-good file.
func (s *Syncer) earlierWitnesses(last Witness) []Witness {
	s.witMu.Lock()
	ws := s.wit
	s.witMu.Unlock()
	var out []Witness
	for _, w := range [...]Witness{ws.check, ws.first} {
		if w.Revision > 0 && w != last {
			out = append(out, w)
		}
	}
	return out
}

// forked returns a witness of the state applied (or of the
// last-known-good file, before the first read) when etcd's history no
// longer holds it, else the zero Witness: install then takes the state
// it read for etcd gone back, and holds what it lacks (hold). Every
// witness is read, each a write this sidecar applied: check alone missed
// a write applied since the last confirmation (a sidecar cut off just
// after it) whenever a read whole came first, and next alone is a write
// of the restored etcd once the watch applied one.
func (s *Syncer) forked() Witness {
	s.witMu.Lock()
	ws := s.wit
	s.witMu.Unlock()
	for _, w := range ws.all() {
		if HistoryHolds(context.Background(), s.cli, w) == NotHeld {
			return w
		}
	}
	return Witness{}
}

// confirmWitness is confirm's check of the witness: etcd's history not
// holding it sends the watch to read the state again (whose install finds
// it too, forked); holding it, or compacted past it with its key written
// since or gone (Passed, Gone: no read will tell, and staying on it would
// turn the check off for good; a revocation gone is held by the read
// whole that lacks it, holdLost), the witness moves on to the last write
// applied since. The first write applied since is read as well before it
// moves on, which drops it: a sidecar cut off just after it applied a
// write the restore lost, whose watch then applied a write of the
// restored etcd, moved on to that one, which etcd's history holds, and no
// read whole found the fork (TestConfirmationReadsTheFirstWriteSince).
func (s *Syncer) confirmWitness(ctx context.Context) {
	s.witMu.Lock()
	ws := s.wit
	s.witMu.Unlock()
	w := ws.check
	h := HistoryHolds(ctx, s.cli, w)
	if (h == Held || h == Passed || h == Gone) && ws.first.Revision > 0 && ws.first != w {
		w = ws.first
		h = HistoryHolds(ctx, s.cli, w)
	}
	switch h {
	case Untold:
	case NotHeld:
		s.cfg.Logger.Debug().Str("witness_key", w.Key).Int64("witness_revision", w.Revision).Msg("etcd's history no longer holds a write applied; re-reading the policy state")
		select {
		case s.back <- struct{}{}:
		default:
		}
	default:
		s.witMu.Lock()
		if s.wit.check == ws.check && s.wit.first == ws.first { // else a write came meanwhile: the next confirmation reads it
			s.wit.check, s.wit.first = s.wit.next, Witness{}
		}
		s.witMu.Unlock()
	}
}
