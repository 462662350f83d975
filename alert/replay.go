package alert

import (
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/collector"
)

// ReplayStats say how Restore rebuilt the engine's state.
type ReplayStats struct {
	// Snapshot is the chain position of the snapshot the state started
	// from; 0 when it was rebuilt from the whole trail.
	Snapshot uint64
	// Ignored says why a snapshot that was there was not used; "" when
	// it was used or there was none.
	Ignored string
	// Entries counts the entries replayed; Lines the segment lines read.
	Entries int
	Lines   int
	// Unverified counts the entries (or lines) that failed their checks
	// (Config.TrailKey) and were not replayed.
	Unverified int
}

// maxNamedUnverified bounds the entries failing their checks that a
// replay names to OnError; the others are counted only.
const maxNamedUnverified = 100

// Replay rebuilds the engine's windows, learnt networks, revocations and
// alerts from the whole stored trail in dir, in storage order, firing
// nothing: what fired before is in the trail as alert events. Call it
// once, before the collector takes traffic.
func (e *Engine) Replay(dir string) error {
	_, err := e.replay(dir, 0, [32]byte{})
	return err
}

// Restore is Replay from the snapshot in Config.Snapshot: the state is
// loaded from it and only the entries after its position are replayed. A
// snapshot that is missing, corrupt, not signed by Config.SnapshotKey,
// made for other rules, or whose position the trail does not hold with
// its hash (past the head, another trail, a trail rewritten) is ignored:
// the whole trail is replayed and ReplayStats.Ignored says why.
func (e *Engine) Restore(dir string) (ReplayStats, error) {
	snap, why := e.loadSnapshot()
	if snap == nil {
		st, err := e.replayAll(dir)
		st.Ignored = why
		return st, err
	}
	e.mu.Lock()
	e.restoreLocked(&snap.State)
	e.mu.Unlock()
	st, err := e.replay(dir, snap.Seq, snap.hash)
	if errors.Is(err, collector.ErrPositionNotFound) {
		e.reset()
		all, err := e.replayAll(dir)
		all.Ignored = fmt.Sprintf("snapshot at seq %d does not match the trail: %v", snap.Seq, err)
		return all, err
	}
	st.Snapshot = snap.Seq
	return st, err
}

// replayAll replays the whole trail.
func (e *Engine) replayAll(dir string) (ReplayStats, error) {
	return e.replay(dir, 0, [32]byte{})
}

// replay replays the entries after position after (0: all).
func (e *Engine) replay(dir string, after uint64, hash [32]byte) (ReplayStats, error) {
	e.mu.Lock()
	e.replaying = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.replaying, e.entryOpens = false, nil
		e.mu.Unlock()
	}()
	var st ReplayStats
	apply := func(en *collector.Entry) error {
		if e.cfg.TrailKey != nil && !en.Verified {
			e.unverified(&st, en)
			return nil
		}
		st.Entries++
		e.replayEntry(en)
		return nil
	}
	var err error
	switch {
	case e.cfg.TrailKey != nil:
		st.Lines, err = collector.ScanVerifiedEntries(dir, e.cfg.TrailKey, after, hash, apply)
	case after == 0:
		err = collector.ScanEntries(dir, apply)
	default:
		st.Lines, err = collector.ScanEntriesAfter(dir, after, hash, apply)
	}
	if err != nil {
		return st, fmt.Errorf("cannot rebuild detection state from %q: %w", dir, err)
	}
	return st, nil
}

// unverified counts an entry that failed its checks, not replayed, and
// names it to OnError (the first maxNamedUnverified).
func (e *Engine) unverified(st *ReplayStats, en *collector.Entry) {
	st.Unverified++
	if e.cfg.OnError == nil || st.Unverified > maxNamedUnverified {
		return
	}
	e.cfg.OnError(fmt.Errorf("trail segment %d entry %d (seq %d) failed its checks (hash, link to the entry before, seq or the collector's signature: edited or forged in the store); not replayed into the detection state (audit verify names the problem)",
		en.Segment, en.Index, en.Seq))
	if st.Unverified == maxNamedUnverified {
		e.cfg.OnError(fmt.Errorf("more than %d trail entries failed their checks; the others are counted, not named", maxNamedUnverified))
	}
}

// replayEntry applies one stored entry: its records, with the alerts its
// alert.open events name opened at the record that fired them, then its
// events.
func (e *Engine) replayEntry(en *collector.Entry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.entryOpens = nil
	for i := range en.Events {
		if ev := &en.Events[i]; ev.Action == ActionOpen && len(en.Records) > 0 {
			if e.entryOpens == nil {
				e.entryOpens = map[string]*collector.Event{}
			}
			e.entryOpens[ev.Target] = ev
		}
	}
	for i := range en.Records {
		en.Records[i].Sender, en.Records[i].Received = en.Sender, en.Time // as Detect saw them (Store.appendBatch)
	}
	e.observeLocked(en.Records, en.Events, nil)
	e.entryOpens = nil
	e.pos, e.posHash = en.Seq, en.Hash
}
