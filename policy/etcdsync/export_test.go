package etcdsync

// Restarts and Down let the external tests (package etcdsync_test, which
// may import etcdadmin and the data plane) read Syncer state that has no
// exported reader.

import (
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Restarts returns the watches lost and followed by a full re-read.
func (s *Syncer) Restarts() int64 { return s.restarts.Load() }

// MaxTaken bounds the watch responses applied in one snapshot.
const MaxTaken = maxTaken

// MaxEditsAmended is the number of key records always amended in.
const MaxEditsAmended = maxEditsAmended

// Compiles returns how many states were compiled rather than amended.
func (s *Syncer) Compiles() int64 { return s.compiles.Load() }

// Edited returns how many key records were amended in.
func (s *Syncer) Edited() int64 { return s.edited.Load() }

// Installs returns how many states read whole (a re-read, the
// last-known-good file) differed from the one applied: each is applied.
func (s *Syncer) Installs() int64 { return s.installs.Load() }

// Rewinds returns the re-reads that found etcd below the revision applied.
func (s *Syncer) Rewinds() int64 { return s.rewinds.Load() }

// StateOps and ConfirmOp are the reads that may find etcd gone back.
var (
	StateOps  = stateOps
	ConfirmOp = confirmOp
)

// Down returns the unix nanoseconds etcd stopped answering, 0 while it answers.
func (s *Syncer) Down() int64 { return s.down.Load() }

// Install makes st, as listed from etcd, the state applied, as the first
// read of Run does: compile, swap, hand a copy to the last-known-good
// writer (which runs only under Run).
func (s *Syncer) Install(st *State) { s.install(st, true) }

// Handle applies a watch response and those waiting in more, as the
// watch does.
func (s *Syncer) Handle(resp clientv3.WatchResponse, more <-chan clientv3.WatchResponse) error {
	return s.handle(resp, more)
}

// Put applies one put event of key, as the watch does, and recompiles.
func (s *Syncer) Put(key, value string) {
	if s.st.apply(s.k, key, value, true) {
		s.st.Revision++
		s.apply(true)
	}
}

// Watched reports whether the ledger's watched copy holds approval id (a
// Consume of an id not watched reads etcd first).
func (l *Ledger) Watched(id string) bool {
	return l.state.Load().records.has(id)
}

// WatchedUses returns the version of approval id's use counter as the
// Ledger watched it (0: none).
func (l *Ledger) WatchedUses(id string) int64 {
	c, _ := l.state.Load().counters.get(id)
	return c.Version
}

// RewindOp is the read of the Ledger's and the Sharer's rewind checks.
var RewindOp = rewindOp

// ReadLKGState reads the state in the last-known-good file of dir, its
// checksum checked.
func ReadLKGState(dir string) (*State, error) {
	l, err := readLKGFile(dir)
	if err != nil {
		return nil, err
	}
	return l.State, nil
}

// Published returns d as a Sharer publishes it.
func (d DemandRecord) Published() DemandRecord { return d.capped() }

// CheckWitness returns the witness the next confirmation reads.
func (s *Syncer) CheckWitness() Witness {
	s.witMu.Lock()
	defer s.witMu.Unlock()
	return s.wit.check
}

// Lease returns the lease a hold's slot was put on (0 once released).
func (h *Hold) Lease() clientv3.LeaseID { return h.lease }

// WriteLKG writes st to the last-known-good file of dir as saved, with
// its checksum, as the Syncer's saves do.
func WriteLKG(dir string, st *State, saved time.Time) error { return writeLKG(dir, st, saved) }
