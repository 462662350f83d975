package jwt

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
)

// cache holds verified tokens, keyed by the xxhash of the token. Each
// entry keeps a copy of the token, compared in constant time on every
// hit (equalCT), so an xxhash collision can never authenticate. Comparing
// a stored copy was chosen over comparing SHA-256 digests: hashing the
// presented token costs as much as a byte-wise compare, and the
// vectorised compare is several times cheaper than either
// (BenchmarkHitCompare in jwt_timing_test.go).
//
// In front of ristretto sits a direct-mapped table of the entries last
// used, indexed by a cheap hash of the token (tokenHash): a hit there is
// the hash, an atomic load and the compare, where a ristretto hit also
// hashes the whole token, reads the clock for its TTL and feeds its
// admission policy (BenchmarkDecideJWT measures the difference). A
// verified token goes into both; a ristretto hit refills the front. Every
// check a ristretto hit gets (compare, key epoch, freshness, exp/nbf) runs
// on a front hit too, and a token whose front entry went stale (a key was
// dropped) is verified again and its fresh entry replaces the stale one.
//
// Both are bounded by bytes as well as entries (entryCost): ristretto by
// Config.CacheBytes, its MaxCost, and the front by frontBytes, since it
// keeps its entries alive after ristretto evicts them. Counted by entries
// alone, at MaxTokenBytes a token, they held 64 and 32 MiB
// (TestCacheBoundedByBytes).
type cache struct {
	c     *ristretto.Cache[uint64, *entry]
	front []atomic.Pointer[entry]
	mask  uint64

	// frontUsed is at least the entryCost of the entries in the front,
	// and at most frontBytes: a store reserves what it adds before it
	// swaps the slot, and gives back what it drops after (frontPut).
	frontUsed atomic.Int64
	cursor    atomic.Uint64 // the next slot frontPut may empty for room

	// mu orders the sends into ristretto (set, wait) before its Close:
	// a verifier the new tables do not keep is closed while requests
	// that loaded it may still verify a token and cache it, and
	// ristretto's Close closes the channel Set sends on before it marks
	// itself closed, so a Set in between sent on a closed channel (a
	// panic; the race detector saw it in TestHMACSecretFIFOFailsClosedNotFrozen,
	// TestSetRacesClose). Taken on the full verification's path only, never on a hit.
	mu     sync.RWMutex
	closed bool
}

// frontSlots is the size of the front table; it bounds what the front
// keeps alive after ristretto evicts it to frontSlots tokens, and
// frontBytes to that many bytes (entryCost): 2 MiB is a thousand entries
// of typical tokens (1 to 1.5 KiB), more than a sidecar's hot tokens, and
// 240 at MaxTokenBytes; a token the front has no room for is answered by
// ristretto, without allocating either.
const (
	frontSlots = 1 << 12
	frontBytes = 2 << 20
)

// frontEvictProbes bounds the slots one store into a full front empties
// (round robin from cursor) to make room.
const frontEvictProbes = 16

// entryOverhead is about what an entry keeps besides its token and its
// claims' strings: the entry, its Claims, ristretto's item.
const entryOverhead = 512

// scopeOverhead is about what a scope costs besides its bytes: its string
// header in Claims.Scopes, a separator or an allocation's rounding.
const scopeOverhead = 24

// entryCost is what e counts against the byte budgets: its token, and its
// claims' strings and scopes, which a token of one-byte scopes ("a a a
// ...") makes eight times its payload in string headers; counted by its
// token alone, DefaultCacheBytes held some 55 MiB of such tokens
// (TestCacheBytesCountScopes). An entry is immutable: its cost is too.
func entryCost(e *entry) int64 {
	if e == nil {
		return 0
	}
	n := int64(len(e.token)) + entryOverhead
	if c := e.claims; c != nil {
		n += int64(len(c.Subject) + len(c.Tenant) + len(c.Client) + len(c.JTI))
		for _, s := range c.Scopes {
			n += int64(len(s)) + scopeOverhead
		}
	}
	return n
}

// entry is one verified token. It is immutable once stored.
type entry struct {
	hash   uint64 // tokenHash(token)
	token  []byte // private copy of the token
	claims *Claims
	is     *issuerState
	epoch  uint64 // is.epoch at verification; a change means a key was dropped
}

func newCache(entries, bytes int64) (*cache, error) {
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *entry]{
		NumCounters:        entries * 10, // ristretto's advice: 10x the entries
		MaxCost:            bytes,
		BufferItems:        64,
		IgnoreInternalCost: true, // cost is entryCost, which counts ristretto's item
		KeyToHash:          func(k uint64) (uint64, uint64) { return k, 0 },
	})
	if err != nil {
		return nil, err
	}
	return &cache{c: c, front: make([]atomic.Pointer[entry], frontSlots), mask: frontSlots - 1}, nil
}

// tokenHash spreads tokens over the front from three words (start,
// middle, end: the end is signature, random for every token) and the
// length, folded by one multiply. Collisions cost a ristretto lookup,
// never a wrong answer: every hit compares the whole token.
func tokenHash(t []byte) uint64 {
	n := len(t)
	var w uint64
	if n < 8 {
		for _, c := range t {
			w = w<<8 | uint64(c)
		}
	} else {
		w = binary.LittleEndian.Uint64(t) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(t[n/2-4:]), 21) ^
			bits.RotateLeft64(binary.LittleEndian.Uint64(t[n-8:]), 43)
	}
	h := (w ^ uint64(n)) * 0x9e3779b97f4a7c15
	return h ^ h>>29
}

// set caches e under key for ttl, unless the cache is closed.
func (c *cache) set(key uint64, e *entry, ttl time.Duration) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.closed {
		c.c.SetWithTTL(key, e, entryCost(e), ttl)
	}
}

func (c *cache) wait() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.closed {
		c.c.Wait()
	}
}

func (c *cache) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.c.Close()
}

// lookup answers Verify from the cache. hit is false when the token is
// not cached, differs from the cached bytes, was cached before one of its
// issuer's keys was dropped, or its issuer's keys are older than
// MaxStale; the caller then verifies it in full. exp, nbf and iat are
// checked again on a hit.
func (v *Verifier) lookup(token []byte, now time.Time) (c *Claims, st Status, hit bool) {
	if len(token) > v.cfg.MaxTokenBytes {
		return nil, OK, false
	}
	h := tokenHash(token)
	slot := &v.cache.front[h&v.cache.mask]
	e := slot.Load()
	if e == nil || e.hash != h || !equalCT(e.token, token) {
		var ok bool
		if e, ok = v.cache.c.Get(xxhash.Sum64(token)); !ok || !equalCT(e.token, token) {
			return nil, OK, false
		}
		v.cache.frontPut(slot, e)
	}
	if e.epoch != e.is.epoch.Load() || !e.is.fresh(now, v.cfg.MaxStale) {
		return nil, OK, false // the full path refetches or refuses
	}
	if st := e.is.checkTimes(e.claims, now); st != OK {
		return nil, st, true
	}
	return e.claims, OK, true
}

// remember caches a verified token until its exp (plus skew), so that an
// entry can never outlive the token.
func (v *Verifier) remember(token []byte, r *result, now time.Time) {
	exp := time.Unix(r.claims.Expiry, 0).Add(r.is.iss.ClockSkew)
	ttl := exp.Sub(now)
	if ttl <= 0 {
		return
	}
	e := &entry{hash: tokenHash(token), token: append([]byte(nil), token...), claims: r.claims, is: r.is, epoch: r.epoch}
	v.cache.set(xxhash.Sum64(token), e, ttl)
	v.cache.frontPut(&v.cache.front[e.hash&v.cache.mask], e)
}

// frontPut puts e into slot unless frontBytes leaves no room for it after
// emptying up to frontEvictProbes other slots; then e is left to
// ristretto. A slot changed by another store meanwhile keeps that store's
// entry. It does not allocate.
func (c *cache) frontPut(slot *atomic.Pointer[entry], e *entry) {
	old := slot.Load()
	delta := entryCost(e) - entryCost(old)
	if delta > 0 && !c.frontReserve(delta) {
		return
	}
	if !slot.CompareAndSwap(old, e) {
		if delta > 0 {
			c.frontUsed.Add(-delta)
		}
		return
	}
	if delta < 0 {
		c.frontUsed.Add(delta)
	}
}

// frontReserve counts n more bytes in the front if they fit under
// frontBytes, emptying slots round robin for room: entries of tokens long
// expired or no longer presented leave so, and a hot token emptied comes
// back on its next ristretto hit.
func (c *cache) frontReserve(n int64) bool {
	for probes := 0; ; {
		used := c.frontUsed.Load()
		if used+n <= frontBytes {
			if c.frontUsed.CompareAndSwap(used, used+n) {
				return true
			}
			continue
		}
		if probes == frontEvictProbes {
			return false
		}
		probes++
		s := &c.front[c.cursor.Add(1)&c.mask]
		if old := s.Load(); old != nil && s.CompareAndSwap(old, nil) {
			c.frontUsed.Add(-entryCost(old))
		}
	}
}
