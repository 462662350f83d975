package collector

import (
	"slices"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// The store deduplicates the lifecycle events it reads from etcd by key
// and revision. It used to remember every pair it ever stored, rebuilt at
// each start from the whole trail: memory growing with the trail. etcd
// revisions only grow within one cluster, and the follower
// (ForwardEvents) reads them in revision order, so per cluster id the
// store keeps the pairs of the last eventWindow revisions and a floor: an
// event at or below the floor is taken as stored (it was, or is older
// than any the follower still sends), one above it is looked up exactly.
// A replay after a restart (a lost or stale events.rev) thus stores no
// event twice and loses none, and a new cluster (another id, its
// revisions from 1 again) has marks of its own. At most eventClusters
// clusters are remembered, the ones stored to last.
//
// etcd restored from a backup goes back in revision and writes other
// events at the revisions the old history had: the follower then stores
// an events.rewind event (revision 0, the cluster's id, the revision
// gone back to in its key), and the cluster's floor comes down to that
// revision and its keys above it are forgotten, or every event written
// after a restore that went back more than eventWindow revisions was
// taken as stored and lost (TestForwardEventsFollowsEtcdBackPastTheWindow).
// An event at revision 0 is none of etcd's history: it is never taken as
// stored.
//
// Events stored before the cluster id was recorded have cluster 0; for a
// cluster without marks of its own, an exact match among them counts too,
// so the first replay after an upgrade does not store them again.

const (
	eventWindow   = 4096  // revisions below a cluster's newest looked up exactly
	eventMaxKeys  = 65536 // pairs kept per cluster whatever their revisions
	eventClusters = 16    // clusters remembered
)

// eventMarks is the store's memory of the etcd events it holds. Not safe
// for concurrent use: the store's lock guards it.
type eventMarks struct {
	clusters map[uint64]*eventMark
	tick     uint64 // counts adds, to find the cluster stored to least recently
	// witness is the last event stored that etcd held at its revision
	// (etcdadmin.Witnessable): the follower reads its key there to find
	// etcd's history forked below it (etcdadmin.FollowEventsAfter).
	witness eventKey
	// rewoundAt is the seq of the newest entry holding an events.rewind
	// (0: none in the segments kept), which the witness file records
	// (witnessFile.Rewound).
	rewoundAt uint64
}

// eventMark is what is remembered of one cluster's events.
type eventMark struct {
	floor, high int64                 // every revision at or below floor is stored
	keys        map[eventKey]struct{} // the pairs above floor
	order       []eventKey            // keys in the order added, oldest first
	used        uint64                // eventMarks.tick at the last add
}

// Witness returns the last etcd event stored whose key etcd held at its
// revision (the zero Witness: none), for the follower to check etcd's
// history against (ForwardEvents).
func (s *Store) Witness() etcdadmin.Witness {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.seenEvents.witness
	return etcdadmin.Witness{Key: w.Key, Revision: w.Revision}
}

// LastEventRevision returns the newest etcd revision of the events the
// store holds from the cluster of its witness (Witness), whatever their
// action (one a writer of events/ names like the follower's own is no
// witness, and is stored all the same), or 0 when it has no witness.
func (s *Store) LastEventRevision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.seenEvents.witness
	if w.Revision <= 0 {
		return 0
	}
	if c := s.seenEvents.clusters[w.Cluster]; c != nil {
		return max(c.high, w.Revision)
	}
	return w.Revision
}

// LastRewind returns the seq of the newest entry the store holds with an
// events.rewind event (0: none), for the witness file (trustedWitnesses).
func (s *Store) LastRewind() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seenEvents.rewoundAt
}

// addAt is add for an event of the entry at seq.
func (m *eventMarks) addAt(k eventKey, seq uint64) {
	if _, ok := etcdadmin.RewindRevision(k.Key); ok && k.Revision <= 0 {
		m.rewoundAt = max(m.rewoundAt, seq)
	}
	m.add(k)
}

// has reports whether the event k is stored.
func (m *eventMarks) has(k eventKey) bool {
	if k.Revision <= 0 {
		return false
	}
	k.Action = ""
	if c := m.clusters[k.Cluster]; c != nil {
		return c.has(k)
	}
	if k.Cluster != 0 {
		if c := m.clusters[0]; c != nil {
			k.Cluster = 0
			_, ok := c.keys[k]
			return ok
		}
	}
	return false
}

func (c *eventMark) has(k eventKey) bool {
	if k.Revision <= c.floor {
		return true
	}
	_, ok := c.keys[k]
	return ok
}

// add remembers the event k as stored.
func (m *eventMarks) add(k eventKey) {
	if k.Revision <= 0 {
		if rev, ok := etcdadmin.RewindRevision(k.Key); ok {
			if c := m.clusters[k.Cluster]; c != nil {
				c.rewind(rev)
			}
			if m.witness.Revision > rev || m.witness.Cluster != k.Cluster {
				m.witness = eventKey{} // not in etcd's history any more
			}
		}
		return
	}
	if etcdadmin.Witnessable(k.Action) {
		m.witness = eventKey{Key: k.Key, Revision: k.Revision, Cluster: k.Cluster}
	}
	k.Action = ""
	if m.clusters == nil {
		m.clusters = map[uint64]*eventMark{}
	}
	c := m.clusters[k.Cluster]
	if c == nil {
		if len(m.clusters) >= eventClusters {
			m.evict()
		}
		c = &eventMark{keys: map[eventKey]struct{}{}, floor: -1 << 63}
		m.clusters[k.Cluster] = c
	}
	m.tick++
	c.used = m.tick
	if c.has(k) {
		return
	}
	c.keys[k] = struct{}{}
	c.order = append(c.order, k)
	c.high = max(c.high, k.Revision)
	// Slide: pairs eventWindow revisions below the newest, or past
	// eventMaxKeys, go below the floor.
	n := 0
	for n < len(c.order) && (c.order[n].Revision <= c.high-eventWindow || len(c.order)-n > eventMaxKeys) {
		c.floor = max(c.floor, c.order[n].Revision)
		delete(c.keys, c.order[n])
		n++
	}
	if n > 0 {
		c.order = append(c.order[:0], c.order[n:]...)
	}
}

// rewind forgets what is remembered of the cluster's history above rev,
// the revision etcd went back to: the events written from there on are
// new ones.
func (c *eventMark) rewind(rev int64) {
	if rev == 0 {
		// No event stored is in etcd's history any more
		// (rewindfloor.go): an event of the new history below the floor
		// would be taken as stored, while the keys kept are each the old
		// or the new history's own (an event's key is unique). The floor
		// goes; the backup's events below the keys kept are stored a
		// second time, none is lost.
		c.floor = min(c.floor, 0)
		return
	}
	c.floor, c.high = min(c.floor, rev), min(c.high, rev)
	c.order = slices.DeleteFunc(c.order, func(k eventKey) bool {
		if k.Revision > rev {
			delete(c.keys, k)
			return true
		}
		return false
	})
}

// evict forgets the cluster stored to least recently.
func (m *eventMarks) evict() {
	var old uint64
	first := true
	for id, c := range m.clusters {
		if first || c.used < m.clusters[old].used {
			old, first = id, false
		}
	}
	delete(m.clusters, old)
}
