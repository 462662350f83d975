package limiter

import (
	"math"
	"math/bits"
	"time"
)

// Config configures a Table.
type Config struct {
	// MaxKeys bounds the tracked keys (default 1<<20). It is enforced per
	// shard as ceil(MaxKeys/Shards), so with uneven keys a shard can be
	// full a little before the table holds MaxKeys keys.
	MaxKeys int
	// Shards is the number of lock domains, rounded up to a power of two
	// (default 64) and reduced so that each shard may hold a key.
	Shards int
}

// Result is the outcome of a take.
type Result struct {
	OK         bool          // the take was admitted
	Remaining  int64         // whole tokens left after this take (RateLimit header)
	RetryAfter time.Duration // when !OK: exact time until this take would be admitted
	Reset      time.Duration // time until the bucket is full again
	Limit      Limit         // the limit that decided (RateLimit-Policy header)
}

// Take names one bucket of an all-or-nothing TakeAt. Limit points at the
// caller's Limit, which must not change during the call: a proxy keeps its
// limits in tables built per policy and need not copy 64 bytes per bucket
// per request. Limit must not be nil.
type Take struct {
	Key   uint64
	Limit *Limit
}

// Table is a sharded table of token buckets keyed by uint64 (hash the
// client key once, e.g. with xxhash). It is safe for concurrent use; the
// zero Table is not usable, call NewTable.
type Table struct {
	shards []shard
	shift  uint // 64 - log2(len(shards))
}

// NewTable returns an empty Table configured by cfg.
func NewTable(cfg Config) *Table {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 1 << 20
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 64
	}
	n := 1 << bits.Len(uint(cfg.Shards-1))
	for n > 1 && n > cfg.MaxKeys {
		n /= 2
	}
	t := &Table{shards: make([]shard, n), shift: uint(64 - bits.Len(uint(n-1)))}
	for i := range t.shards {
		t.shards[i].max = (cfg.MaxKeys + n - 1) / n
		t.shards[i].tab.Store(newSlots(8))
	}
	return t
}

// mix spreads key bits (Fibonacci hashing) so that sequential keys still
// use every shard.
func mix(key uint64) uint64 { return key * 0x9e3779b97f4a7c15 }

// hashSlot is the probe start of key inside its shard.
func hashSlot(key uint64) uint64 {
	m := mix(key)
	return m ^ m>>29
}

// shard returns key's shard.
func (t *Table) shard(key uint64) *shard {
	if t.shift == 64 {
		return &t.shards[0]
	}
	return &t.shards[mix(key)>>t.shift]
}

// Allow takes one token from key's bucket at Now().
func (t *Table) Allow(key uint64, l Limit) Result {
	return t.TakeNAt(key, l, 1, Now())
}

// AllowAt takes one token from key's bucket at now.
func (t *Table) AllowAt(key uint64, l Limit, now int64) Result {
	return t.TakeNAt(key, l, 1, now)
}

// TakeNAt takes n tokens from key's bucket at now, or none if fewer are
// left. n == 0 only reports the bucket. A take of more than l.Burst()
// tokens, or on a deny-all Limit, is denied with RetryAfter Forever; a
// take on the zero Limit is admitted without touching the table.
//
// When the key is new and its shard is full of buckets that are not yet
// idle, the take is denied (fail closed) with RetryAfter the time until a
// bucket in that shard goes idle and can be evicted.
func (t *Table) TakeNAt(key uint64, l Limit, n int64, now int64) Result {
	switch {
	case l.IsZero():
		return unlimited(l)
	case l.deny() || n > l.burst:
		return never(l)
	}
	n = max(n, 0)
	s := t.shard(key)
	h := hashSlot(key)
	for {
		b := s.tab.Load().find(key, h)
		if b == nil && n == 0 {
			return l.admitted(0)
		}
		if b == nil {
			var wait int64
			if b, wait = s.insert(key, h, l, now); b == nil {
				return Result{RetryAfter: time.Duration(wait), Limit: l}
			}
		}
		r, stale := b.take(l, n, now)
		if !stale {
			return r
		}
		s.replace(b, h, l, now)
	}
}

// RefundAt gives back n tokens previously taken from key's bucket at now.
// The bucket never fills past its burst, so refunding more than was taken
// is harmless.
func (t *Table) RefundAt(key uint64, l Limit, n int64, now int64) {
	if l.IsZero() || l.deny() || n <= 0 {
		return
	}
	n = min(n, l.burst)
	s := t.shard(key)
	h := hashSlot(key)
	for {
		b := s.tab.Load().find(key, h)
		if b == nil || !b.refund(l, n, now) {
			return // no bucket is a full bucket
		}
		s.replace(b, h, l, now)
	}
}

// TakeAt takes one token from every bucket in takes, all or nothing: if
// one denies, the tokens the earlier ones gave are refunded. It returns
// the deciding Result (the denial, or when all admit the one with the
// fewest Remaining) and the index of the denying take (-1 if admitted).
func (t *Table) TakeAt(takes []Take, now int64) (Result, int) {
	best := Result{OK: true, Remaining: math.MaxInt64}
	for i := range takes {
		r := t.TakeNAt(takes[i].Key, *takes[i].Limit, 1, now)
		if !r.OK {
			t.refund(takes[:i], now)
			return r, i
		}
		if i == 0 || r.Remaining < best.Remaining {
			best = r
		}
	}
	return best, -1
}

// TakeAll is TakeAt for callers that need a Result only on denial, as a
// proxy does (the RateLimit headers go on the 429): it takes one token from
// every bucket in takes, all or nothing, and returns the zero Result and -1
// when all admit, or the denying take's Result and its index, in TakeAt's
// order. An admitted take builds no Result, which saves the divisions and
// copies TakeAt spends on them.
func (t *Table) TakeAll(takes []Take, now int64) (Result, int) {
	var r Result
	i := t.TakeAllTo(takes, now, &r)
	return r, i
}

// TakeAllTo is TakeAll writing the denying take's Result to *r, which it
// leaves as it is when all admit: a caller that keeps the Result need not
// zero and copy it on every admitted request.
func (t *Table) TakeAllTo(takes []Take, now int64, r *Result) int {
	for i := range takes {
		tk := &takes[i]
		if t.admit(tk.Key, tk.Limit, now) {
			continue
		}
		// The slow path builds the denial; it may also admit, if a token
		// came back since (a refund or a racing rebase).
		if t.deny(takes, i, now, r) {
			return i
		}
	}
	return -1
}

// deny is TakeAllTo's slow path for takes[i], which admit turned away: it
// writes the denial to *r, refunds the takes before i and reports true, or
// reports false if the take is admitted after all.
func (t *Table) deny(takes []Take, i int, now int64, r *Result) bool {
	tk := &takes[i]
	res := t.TakeNAt(tk.Key, *tk.Limit, 1, now)
	if res.OK {
		return false
	}
	t.refund(takes[:i], now)
	*r = res
	return true
}

// admit takes one token from key's bucket at now. A true answer is
// TakeNAt(key, *l, 1, now).OK; false means "not on the fast path": a
// denial, a new key, a bucket to replace or a lost compare-and-swap,
// which TakeNAt settles.
//
// Three of these run per request, so the key is mixed once for both the
// shard and the slot, and the take is bucket.reserve for one token in
// one compare-and-swap, written out here: without reserve's loop and
// results, and the call, a take costs a third less (issue 18:
// BenchmarkTakeAll3).
func (t *Table) admit(key uint64, l *Limit, now int64) bool {
	if l.step == 0 {
		return !l.deny() // the zero Limit admits; a deny-all Limit never does
	}
	m := mix(key)
	b := t.shards[m>>t.shift].tab.Load().find(key, m^m>>29) // m>>64 is 0
	if b == nil {
		return false
	}
	nowU, ok := b.units(l, now)
	w := b.tat.Load()
	if !ok || w == tomb {
		return false
	}
	next := onGrid(w, nowU, l.step) + l.step
	return next-nowU <= l.cap && b.tat.CompareAndSwap(w, next)
}

// refund gives back the token each of takes gave.
func (t *Table) refund(takes []Take, now int64) {
	for i := range takes {
		t.RefundAt(takes[i].Key, *takes[i].Limit, 1, now)
	}
}

// Len returns the number of tracked keys.
func (t *Table) Len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += s.count
		s.mu.Unlock()
	}
	return n
}

// BytesPerKey is the heap cost of one tracked key, an upper bound measured
// by TestBytesPerKey with a million keys: a 48-byte bucket (filling Go's 48-byte
// size class) plus its slot pointer at a load factor between 3/8 and 3/4.
const BytesPerKey = 72
