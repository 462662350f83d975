package limiter

import (
	"sync"
	"time"
	"unsafe"
)

// ConcurrencyConfig configures a Concurrency.
type ConcurrencyConfig struct {
	// MaxKeys bounds the keys tracked (default 1<<20), enforced per
	// shard like Config.MaxKeys: those with requests in flight or
	// waiting, and idle ones kept for their newest cap. When a new key's
	// shard is full, its idle keys are forgotten; with none idle, Acquire
	// for the new key returns false (fail closed).
	MaxKeys int
}

// concShards is the number of Concurrency lock domains.
const concShards = 64

// Concurrency caps in-flight requests per key, optionally queueing the
// excess first come first served. It is safe for concurrent use; the zero
// Concurrency is not usable, call NewConcurrency. A key is tracked from
// its first Acquire; once idle (nothing in flight or waiting) it keeps
// only its newest cap, 32 bytes and a map slot, until its shard is full.
type Concurrency struct {
	shards []cshard
}

// cshardState is a cshard without its padding.
type cshardState struct {
	mu       sync.Mutex           // guards the following fields
	inflight map[uint64]held      // keys tracked: with requests in flight, or idle (n == 0) with their newest cap
	waiting  map[uint64][]*waiter // FIFO of callers waiting per key
	queued   int                  // callers waiting, all keys: the sum of the lengths in waiting
	idle     int                  // keys in inflight with n == 0, which a full shard forgets
	max      int                  // bound on len(inflight), immutable
}

// cshard is one lock domain of a Concurrency, padded against false sharing.
type cshard struct {
	cshardState
	_ [128 - unsafe.Sizeof(cshardState{})%128]byte
}

// held is a key's slots in flight and the newest cap an Acquire has
// brought, the cap a Release hands a slot on under, with the time it came
// into force. A key with n == 0 has nothing in flight and no waiter (a
// waiter queues only at n >= limit >= 1).
type held struct {
	n, limit int
	since    int64
}

// waiter is a queued Acquire; Release hands it a slot by sending on ch.
type waiter struct {
	ch chan struct{} // buffered 1, so the handing-off Release never blocks
}

// NewConcurrency returns an empty Concurrency configured by cfg.
func NewConcurrency(cfg ConcurrencyConfig) *Concurrency {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 1 << 20
	}
	c := &Concurrency{shards: make([]cshard, concShards)}
	for i := range c.shards {
		s := &c.shards[i]
		s.inflight = make(map[uint64]held)
		s.waiting = make(map[uint64][]*waiter)
		s.max = max((cfg.MaxKeys+concShards-1)/concShards, 1)
	}
	return c
}

// shard returns key's shard.
func (c *Concurrency) shard(key uint64) *cshard {
	return &c.shards[mix(key)>>(64-6)]
}

// Acquire takes an in-flight slot for key under cap limit, in force since
// since (a limiter clock reading, Now, as for Limit.Since). If none is
// free and fewer than queue callers already wait on this key, it waits up
// to maxWait, first come first served per key; it returns false when the
// queue is full, the wait times out, limit < 1, or key is new and its
// shard is full. queue == 0 means fail fast. Limit becomes the key's cap
// unless the key holds a cap with a later since: slots the cap leaves
// free go to the callers already waiting before this one.
//
// The key keeps the newest cap, as a bucket keeps the latest Limit.Since
// it counted under: an Acquire with an older cap is a request still
// holding the tables of the policy before a push (it loaded them before
// the new ones were published), and setting its cap back let the key's
// Releases hand slots on under the old cap until the next request under
// the new one (TestConcurrencyStaleCapIgnored). It is judged under the
// newest cap. The key keeps it idle too: it kept none once its last slot
// was released, so stale requests reaching an idle key after a request
// under the new cap had come and gone were admitted up to the old cap
// (TestConcurrencyIdleKeyKeepsNewestCap). An idle key is forgotten only
// when a new key needs its shard's room.
//
// Every Acquire that returns true must be paired with exactly one Release;
// call `defer c.Release(key)` right after it so that a panicking handler
// cannot leak the slot.
func (c *Concurrency) Acquire(key uint64, limit int, since int64, queue int, maxWait time.Duration) bool {
	if limit < 1 {
		return false
	}
	s := c.shard(key)
	s.mu.Lock()
	h, ok := s.inflight[key]
	if !ok && len(s.inflight) >= s.max && !s.forgetIdleLocked() {
		s.mu.Unlock()
		return false
	}
	// The newest cap is the one Release hands slots on under: a policy
	// push (or a global share) that lowers it must hold for the requests
	// already queued too, and one that raises it admits them first.
	if since >= h.since {
		h.limit, h.since = limit, since
	}
	s.admitLocked(key, &h)
	switch {
	case h.n < h.limit:
		if ok && h.n == 0 {
			s.idle--
		}
		h.n++
		s.inflight[key] = h
		s.mu.Unlock()
		return true
	case queue <= 0 || maxWait <= 0 || len(s.waiting[key]) >= queue:
		if ok {
			s.inflight[key] = h
		}
		s.mu.Unlock()
		return false
	}
	if ok {
		s.inflight[key] = h
	}
	// Waiting is the slow path; a fresh channel per wait keeps it simple
	// and safe for testing/synctest bubbles.
	w := &waiter{ch: make(chan struct{}, 1)}
	s.waiting[key] = append(s.waiting[key], w)
	s.queued++
	s.mu.Unlock()
	return s.wait(key, w, maxWait)
}

// wait blocks until Release hands w a slot or maxWait passes.
func (s *cshard) wait(key uint64, w *waiter, maxWait time.Duration) bool {
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	select {
	case <-w.ch:
		return true
	case <-timer.C:
	}
	s.mu.Lock()
	removed := s.dequeueLocked(key, w)
	s.mu.Unlock()
	if !removed {
		<-w.ch // a Release handed us the slot as we timed out: keep it
	}
	return !removed
}

// dequeueLocked removes w from key's queue, reporting whether it was there.
func (s *cshard) dequeueLocked(key uint64, w *waiter) bool {
	q := s.waiting[key]
	for i, x := range q {
		if x == w {
			s.setQueueLocked(key, append(q[:i], q[i+1:]...))
			s.queued--
			return true
		}
	}
	return false
}

// setQueueLocked stores key's queue, dropping it when empty.
func (s *cshard) setQueueLocked(key uint64, q []*waiter) {
	if len(q) == 0 {
		delete(s.waiting, key)
		return
	}
	s.waiting[key] = q
}

// Release returns the slot of a successful Acquire for key. The callers
// waiting on key then take, first come first served, the slots the cap of
// key's latest Acquire leaves free: the released one, more under a cap
// raised since they queued, none above a cap lowered since. With nothing
// left in flight the key is idle and keeps its cap. A Release without a
// matching Acquire is ignored.
func (c *Concurrency) Release(key uint64) {
	s := c.shard(key)
	s.mu.Lock()
	h, ok := s.inflight[key]
	if !ok || h.n == 0 {
		s.mu.Unlock()
		return
	}
	// The slot is freed, then the waiters take what the cap of the key's
	// latest Acquire leaves: none above a cap lowered since (a policy
	// push, a smaller global share), where handing the slot on kept the
	// old cap in flight for as long as the queue had someone in it; more
	// than one under a cap raised since.
	h.n--
	s.admitLocked(key, &h)
	if h.n == 0 {
		s.idle++
	}
	s.inflight[key] = h
	s.mu.Unlock()
}

// forgetIdleLocked forgets the idle keys of a full shard, their caps
// with them, and reports whether there were any. It sweeps the shard
// only when one is idle, and forgets every idle key at once, so a sweep
// is paid for by the Acquires that filled the shard. The sidecar's keys
// are a policy's tenant+class pairs, which no client can make up, so a
// shard fills only under policies naming more than MaxKeys/64 of them.
func (s *cshard) forgetIdleLocked() bool {
	if s.idle == 0 {
		return false
	}
	for k, h := range s.inflight {
		if h.n == 0 {
			delete(s.inflight, k)
		}
	}
	s.idle = 0
	return true
}

// admitLocked hands the slots h's cap leaves free to key's waiters, first
// come first served, counting them in h. The send never blocks: a
// waiter's channel is buffered, and it is sent on once, as it leaves the
// queue.
func (s *cshard) admitLocked(key uint64, h *held) {
	q := s.waiting[key]
	i := 0
	for ; i < len(q) && h.n < h.limit; i++ {
		q[i].ch <- struct{}{}
		q[i] = nil
		h.n++
	}
	if i > 0 {
		s.setQueueLocked(key, q[i:])
		s.queued -= i
	}
}

// Queued returns the number of Acquire calls waiting for a slot, all keys
// together. It is counted under each shard's lock where a caller joins or
// leaves a queue, so an Acquire that finds a slot free costs nothing more;
// Queued takes the shards' locks in turn, which suits a metrics scrape,
// not the request path. The sum is of each shard at its own moment.
func (c *Concurrency) Queued() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.queued
		s.mu.Unlock()
	}
	return n
}

// InFlight returns the number of slots held for key.
func (c *Concurrency) InFlight(key uint64) int {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight[key].n
}
