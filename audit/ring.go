package audit

import (
	"fmt"
	"sync/atomic"
)

// cacheLine pads the ring's hot counters apart so producers claiming slots
// do not invalidate the consumer's line.
const cacheLine = 64

// slot is one Record plus the sequence number that says who may touch it:
// seq == pos means free for the producer claiming pos, seq == pos+1 means
// filled and ready for the consumer. rec is never nil.
type slot struct {
	seq atomic.Uint64
	rec *Record
}

// ring is a bounded multi-producer single-consumer queue of Record slots
// (Dmitry Vyukov's bounded MPMC queue, with one consumer). push copies a
// record into a slot; swap trades the caller's record for the slot's, which
// the consumer is done with. Neither blocks or allocates; both fail when
// the ring is full.
type ring struct {
	slots []slot
	mask  uint64
	_     [cacheLine]byte
	enq   atomic.Uint64
	_     [cacheLine - 8]byte
	deq   atomic.Uint64 // written only by the consumer; read by len
}

// newRing returns a ring of n slots, n rounded up to a power of two.
func newRing(n int) (*ring, error) {
	if n < 1 || n > 1<<24 {
		return nil, fmt.Errorf("audit: slot count %d out of range [1, %d]", n, 1<<24)
	}
	size := 1
	for size < n {
		size <<= 1
	}
	q := &ring{slots: make([]slot, size), mask: uint64(size - 1)}
	recs := make([]Record, size)
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
		q.slots[i].rec = &recs[i]
	}
	return q, nil
}

// push copies *r into a free slot. It returns false when the ring is full.
func (q *ring) push(r *Record) bool {
	s, pos, ok := q.claim()
	if !ok {
		return false
	}
	r.CopyTo(s.rec)
	s.seq.Store(pos + 1)
	return true
}

// swap puts r itself into a free slot and returns the record the slot held,
// which no one else references: the consumer released it. It returns nil
// and false when the ring is full.
func (q *ring) swap(r *Record) (*Record, bool) {
	s, pos, ok := q.claim()
	if !ok {
		return nil, false
	}
	spare := s.rec
	s.rec = r
	s.seq.Store(pos + 1)
	return spare, true
}

// claim takes the next free slot for a producer, which must publish it
// with seq = pos+1.
func (q *ring) claim() (s *slot, pos uint64, ok bool) {
	pos = q.enq.Load()
	for {
		s = &q.slots[pos&q.mask]
		switch dif := int64(s.seq.Load() - pos); {
		case dif == 0:
			if q.enq.CompareAndSwap(pos, pos+1) {
				return s, pos, true
			}
			pos = q.enq.Load()
		case dif < 0:
			return nil, 0, false
		default:
			pos = q.enq.Load()
		}
	}
}

// peek returns the oldest filled slot's record, or nil when none is ready.
// The record stays valid until release. Only the consumer calls peek.
func (q *ring) peek() *Record {
	pos := q.deq.Load()
	s := &q.slots[pos&q.mask]
	if s.seq.Load() != pos+1 {
		return nil
	}
	return s.rec
}

// release frees the slot returned by the last peek.
func (q *ring) release() {
	pos := q.deq.Load()
	q.slots[pos&q.mask].seq.Store(pos + q.mask + 1)
	q.deq.Store(pos + 1)
}

// len returns the number of claimed slots (filled or being filled).
func (q *ring) len() uint64 { return q.enq.Load() - q.deq.Load() }

// full reports whether a push now would fail.
func (q *ring) full() bool { return q.len() > q.mask }

// seal makes every later push fail, so a consumer that drained the ring after
// a successful seal has seen every record ever pushed. It returns false when
// the slot at the head is not free or a producer claimed it concurrently; the
// consumer then drains what is ready and tries again.
func (q *ring) seal() bool {
	pos := q.enq.Load()
	s := &q.slots[pos&q.mask]
	if !s.seq.CompareAndSwap(pos, pos-1) {
		return false
	}
	// A producer that won enq before our CAS overwrites seq with pos+1 and
	// its record is drained on the next pass; otherwise none can claim pos.
	return q.enq.Load() == pos
}

// pushed returns how many records were ever pushed.
func (q *ring) pushed() uint64 { return q.enq.Load() }
