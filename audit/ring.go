package audit

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// cacheLine pads the ring's hot counters apart so producers claiming slots
// do not invalidate the consumer's line.
const cacheLine = 64

// slot is a filled Record (nil while the slot is free) and the sequence
// number that says who may touch it: seq == pos means free for the
// producer claiming pos, seq == pos+1 means filled and ready for the
// consumer.
type slot struct {
	seq atomic.Uint64
	rec *Record
}

// ring is a bounded multi-producer single-consumer queue of records
// (Dmitry Vyukov's bounded MPMC queue, with one consumer). push copies a
// record into one from the ring's spares; swap puts the caller's record in
// a slot and hands back a spare. Neither blocks; both fail when the ring is
// full.
//
// The slots hold pointers, and the records go round through spares (a
// sync.Pool): the consumer puts back each record it is done with, and the
// next producer takes the one put back last, so a steady load keeps
// reusing the few records in flight, a burst allocates the records it
// holds, and a quiet spell lets the garbage collector free them (after two
// collections). Records that each belonged to a slot went round by
// position instead: every one of the 4096 was touched every lap, 2.8 MB
// of the sidecar's resident memory under any load (issue 18).
type ring struct {
	slots  []slot
	mask   uint64
	spares sync.Pool
	_      [cacheLine]byte
	enq    atomic.Uint64
	_      [cacheLine - 8]byte
	deq    atomic.Uint64 // written only by the consumer; read by len
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
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
	return q, nil
}

// spare returns a record no one else references: the one the consumer
// put back last, or a new one when every record is in flight.
func (q *ring) spare() *Record {
	if r, _ := q.spares.Get().(*Record); r != nil {
		return r
	}
	return new(Record)
}

// push copies *r into a free slot. It returns false when the ring is full.
func (q *ring) push(r *Record) bool {
	s, pos, ok := q.claim()
	if !ok {
		return false
	}
	rec := q.spare()
	r.CopyTo(rec)
	s.rec = rec
	s.seq.Store(pos + 1)
	return true
}

// swap puts r itself into a free slot and returns a spare record, which
// no one else references. It returns nil and false when the ring is full.
func (q *ring) swap(r *Record) (*Record, bool) {
	s, pos, ok := q.claim()
	if !ok {
		return nil, false
	}
	s.rec = r
	s.seq.Store(pos + 1)
	return q.spare(), true
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

// release frees the slot returned by the last peek and keeps its record
// as the next spare.
func (q *ring) release() {
	pos := q.deq.Load()
	s := &q.slots[pos&q.mask]
	r := s.rec
	s.rec = nil
	s.seq.Store(pos + q.mask + 1)
	q.deq.Store(pos + 1)
	q.spares.Put(r)
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
