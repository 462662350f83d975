package limiter

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// deleted marks a slot whose bucket was evicted; probes continue past it.
var deleted = &bucket{}

// slots is an open-addressing hash table of buckets. Readers probe it
// without locks; writers hold the shard lock, only ever fill a nil slot or
// swap a bucket pointer, and publish a larger copy to grow.
type slots struct {
	mask uint64
	s    []atomic.Pointer[bucket]
}

// newSlots returns an empty table of size slots (a power of two).
func newSlots(size int) *slots {
	return &slots{mask: uint64(size - 1), s: make([]atomic.Pointer[bucket], size)}
}

// find returns key's bucket, or nil. The load factor stays below 3/4, so
// a nil slot always ends the probe.
func (t *slots) find(key, h uint64) *bucket {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		b := t.s[i].Load()
		if b == nil {
			return nil
		}
		if b != deleted && b.key == key {
			return b
		}
	}
}

// index returns the slot holding key's bucket, or -1.
func (t *slots) index(key, h uint64) int {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		b := t.s[i].Load()
		if b == nil {
			return -1
		}
		if b != deleted && b.key == key {
			return int(i)
		}
	}
}

// put stores b in the first free slot of its probe sequence.
func (t *slots) put(b *bucket, h uint64) {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		if p := t.s[i].Load(); p == nil || p == deleted {
			t.s[i].Store(b)
			return
		}
	}
}

// shardState is a shard without its padding.
type shardState struct {
	mu        sync.Mutex // guards the following fields
	count     int        // live buckets
	dead      int        // deleted slots
	fullUntil int64      // clock before which a sweep cannot free a slot
	full      bool       // fullUntil is valid

	tab atomic.Pointer[slots]
	max int // bucket bound of this shard, immutable
}

// shard is one lock domain of a Table, padded to two cache lines so that
// neighbouring shards never share one (adjacent-line prefetch included).
type shard struct {
	shardState
	_ [128 - unsafe.Sizeof(shardState{})%128]byte
}

// insert returns key's bucket, creating it full at now. If the shard is
// full and no bucket in it is idle it returns nil and the ns until one
// will be.
func (s *shard) insert(key, h uint64, l Limit, now int64) (*bucket, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.tab.Load().find(key, h); b != nil {
		return b, 0
	}
	if s.count >= s.max {
		if wait := s.sweepLocked(now); wait > 0 {
			return nil, wait
		}
	}
	b := &bucket{key: key, base: now, scale: l.scale, cap: l.cap, since: l.since}
	s.growLocked()
	s.tab.Load().put(b, h)
	s.count++
	return b, 0
}

// replace swaps the stale bucket old for its successor under l at now.
// If old is no longer in the table (evicted, or already replaced) it does
// nothing and the caller looks the key up again.
func (s *shard) replace(old *bucket, h uint64, l Limit, now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tab := s.tab.Load()
	i := tab.index(old.key, h)
	if i < 0 || tab.s[i].Load() != old {
		return
	}
	w := old.tat.Swap(tomb)
	if w == tomb {
		return // BUG guard: a tombstoned bucket is always unlinked under mu
	}
	tab.s[i].Store(old.successor(w, l, now))
}

// sweepLocked evicts every idle bucket. It returns 0 if that freed a
// slot, else the ns until the first bucket goes idle. A failed sweep is
// remembered so a flood of new keys costs one sweep, not one per key.
func (s *shard) sweepLocked(now int64) int64 {
	if s.full && now < s.fullUntil {
		return s.fullUntil - now
	}
	wait := int64(1<<63 - 1)
	tab := s.tab.Load()
	for i := range tab.s {
		if w := s.evictLocked(&tab.s[i], now); w > 0 {
			wait = min(wait, w)
		}
	}
	if s.count < s.max {
		s.full = false
		return 0
	}
	s.full, s.fullUntil = true, now+wait
	return wait
}

// evictLocked evicts the bucket in slot if it is idle at now and returns
// 0, or returns the ns until it will be idle.
func (s *shard) evictLocked(slot *atomic.Pointer[bucket], now int64) int64 {
	b := slot.Load()
	if b == nil || b == deleted {
		return 0
	}
	w := b.tat.Load()
	if wait := b.idleWait(w, now); wait > 0 {
		return wait
	}
	// The CAS fails if a take raced us; the bucket is then busy again.
	if !b.tat.CompareAndSwap(w, tomb) {
		return 1
	}
	slot.Store(deleted)
	s.count--
	s.dead++
	return 0
}

// growLocked makes room for one more bucket, keeping the load factor,
// deleted slots included, at or below 3/4.
func (s *shard) growLocked() {
	tab := s.tab.Load()
	if (s.count+s.dead+1)*4 <= len(tab.s)*3 {
		return
	}
	size := len(tab.s)
	for (s.count+1)*2 > size {
		size *= 2
	}
	nt := newSlots(size)
	for i := range tab.s {
		if b := tab.s[i].Load(); b != nil && b != deleted {
			nt.put(b, hashSlot(b.key))
		}
	}
	s.tab.Store(nt)
	s.dead = 0
}
