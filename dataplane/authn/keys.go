// Package authn verifies API keys for the data plane, with a cache of
// verification results.
//
// An API key "pk_<id>_<secret>" is checked by looking its id up in the
// current policy snapshot and comparing the SHA-256 of the whole presented
// key with the stored digest in constant time. The SHA-256 is what the
// caches save, in two levels:
//
//   - a front table per policy snapshot (Front), indexed by a cheap hash
//     of the presented key (frontHash), whose slots hold keys that
//     verified against a record of that snapshot, with the record: a hit
//     is the hash, an atomic load and a constant-time compare of the
//     presented bytes, with no parsing of the key and no lookup by id.
//     Its table has a slot pointer per key record, so the writer of a
//     policy builds it with NewFront before the swap (at 100,000 keys it
//     is 2 MiB, which a request must not allocate: BenchmarkDecideAfterSwap
//     in the data plane) and requests pass it to VerifyFront;
//   - behind it the ristretto cache keyed by the xxhash of the presented
//     key, holding the key bytes and their digest. It outlives snapshots, so
//     a policy push (which starts an empty front) costs no SHA-256 for keys
//     seen before; on CPUs without SHA instructions that is what it saves.
//
// A hit at either level counts only when the stored bytes equal the
// presented ones (constant-time compare), so a hash collision or a shared
// key id can never authenticate a different key. Validity, revocation and
// suspension are never cached: they are read from the snapshot on every
// request, hit or miss.
//
// Keys and Front are safe for concurrent use. VerifyFront does not allocate
// on a hit or on a failure; the first success of a key allocates its cache
// entry, and the first per snapshot its front entry.
package authn

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/portcullis/portcullis/policy"
)

// Keys verifies API keys against a policy snapshot.
type Keys struct {
	front  atomic.Pointer[Front] // Verify's, for callers without their own
	cache  *ristretto.Cache[uint64, *entry]
	hits   atomic.Uint64
	misses atomic.Uint64
}

// entry is a verified key and its digest, immutable once cached, and the
// front entry last made for it.
type entry struct {
	key    []byte
	digest [32]byte
	front  atomic.Pointer[frontEntry]
}

// frontFor returns the front entry of e for rec under hash h: the one made
// last if it is for rec, else a new one, kept. A key whose slot other keys
// keep taking is verified again on each return, but allocates only once
// per snapshot.
func (e *entry) frontFor(h uint64, rec *policy.Key) *frontEntry {
	if fe := e.front.Load(); fe != nil && fe.rec == rec {
		return fe
	}
	fe := &frontEntry{hash: h, key: e.key, rec: rec}
	e.front.Store(fe)
	return fe
}

// Front is a table of keys that verified against key records of one
// snapshot, by frontHash. A key may sit in two slots, its hash's own and
// that slot's neighbour (one cache line); a third key wanting the same
// pair displaces one of them, which is verified again on the way through
// the ristretto cache, without allocating. NewFront makes one; it belongs
// to its snapshot and is dropped with it.
type Front struct {
	snap  *policy.Snapshot
	mask  uint64
	slots []atomic.Pointer[frontEntry]
}

// frontEntry is a key that verified against rec, a record of the front's
// snapshot. It is immutable once stored.
type frontEntry struct {
	hash uint64
	key  []byte // shared with the ristretto entry; never written
	rec  *policy.Key
}

// maxFront bounds the slots of a front (8 MiB of pointers).
const maxFront = 1 << 20

// frontFor returns Verify's front of snap, starting an empty one when the
// snapshot changed. Racing requests may each start one; the last stored
// wins and the others' entries are merely not remembered.
func (k *Keys) frontFor(snap *policy.Snapshot) *Front {
	if f := k.front.Load(); f != nil && f.snap == snap {
		return f
	}
	f := NewFront(snap)
	k.front.Store(f)
	return f
}

// NewFront returns the empty front table of snap: a slot for at least
// twice its key records, so that few share a slot, up to 1<<20 slots. It
// allocates in proportion to the keys, so it is the policy writer's to
// call, before it installs snap.
func NewFront(snap *policy.Snapshot) *Front {
	n := 16
	for n < 2*snap.KeyCount() && n < maxFront {
		n *= 2
	}
	return &Front{snap: snap, mask: uint64(n - 1), slots: make([]atomic.Pointer[frontEntry], n)}
}

// absent is compared against when the key id is unknown, so an unknown id
// costs the same digest and comparison as a known one.
var absent [32]byte

// DefaultCacheEntries is the size of the ristretto cache the data plane
// asks NewKeys for. That cache only saves the SHA-256 of a key that the
// current snapshot's front does not hold yet (after a policy push, or a
// displaced front slot): the front serves every other request. At 8192
// keys its admission sketch and filter take 0.6 MiB of heap; at 65536
// (the default before issue 18) they took 3.4 MiB, which the garbage
// collector's goal doubled in the sidecar's peak RSS, to save at most one
// digest (86 ns here, BenchmarkSHA256) per further key per push.
const DefaultCacheEntries = 1 << 13

// NewKeys returns a verifier whose cache holds up to maxEntries keys.
func NewKeys(maxEntries int64) (*Keys, error) {
	if maxEntries < 1 {
		maxEntries = 1
	}
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *entry]{
		NumCounters: maxEntries * 10,
		MaxCost:     maxEntries,
		BufferItems: 64,
		KeyToHash:   func(k uint64) (uint64, uint64) { return k, 0 },
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create key cache: %w", err)
	}
	return &Keys{cache: c}, nil
}

// Verify returns the key record of snap that key authenticates at now (unix
// nanoseconds), or nil: malformed, unknown id, wrong secret, not yet valid,
// expired and revoked all return nil alike (VerifyFront tells revoked
// apart). Suspension of the key's client is the caller's to check: it is
// a different answer. id is the key id
// parsed from key (nil if malformed); it aliases key. hit reports an
// answer from the front, which Stats does not count: the caller counts
// front hits with the request (the data plane's metrics cell), so a hit
// costs no atomic add of its own.
//
// Verify keeps one front, replaced when snap changes: the first request
// after a policy swap builds it. A caller that can build the front of
// each snapshot before it serves it calls VerifyFront instead.
func (k *Keys) Verify(snap *policy.Snapshot, key []byte, now int64) (rec *policy.Key, id []byte, hit bool) {
	rec, id, hit, _ = k.VerifyFront(k.frontFor(snap), key, now)
	return rec, id, hit
}

// VerifyFront is Verify against the snapshot of f, through f. revoked
// reports a key whose secret matched its record, which is revoked: the
// proof that the snapshot enforced the revocation, which a wrong secret
// under a revoked key's id is not (it is refused whatever the record).
func (k *Keys) VerifyFront(f *Front, key []byte, now int64) (rec *policy.Key, id []byte, hit, revoked bool) {
	h := frontHash(key)
	if e := f.lookup(h, key); e != nil {
		// Stored only after these very bytes passed SplitKey and their
		// digest matched e.rec, a record of this snapshot; the key is
		// "pk_" + id + "_" + secret.
		return inWindow(e.rec, now), key[len(policy.KeyPrefix) : len(policy.KeyPrefix)+len(e.rec.ID)], true, e.rec.Revoked
	}
	id, ok := policy.SplitKey(key)
	if !ok {
		return nil, nil, false, false
	}
	xh := xxhash.Sum64(key)
	if rec = f.snap.Key(id); rec == nil {
		k.matches(key, xh, &absent) // an unknown id costs what a known one does
		return nil, id, false, false
	}
	e := k.matches(key, xh, &rec.Digest)
	if e == nil {
		return nil, id, false, false
	}
	f.store(h, e.frontFor(h, rec))
	return inWindow(rec, now), id, false, rec.Revoked
}

// lookup returns the entry of key, whose frontHash is h, from its two
// slots (h's own and its neighbour, one cache line), or nil. The hash is
// compared first, so the constant-time compare runs on a likely hit only.
func (f *Front) lookup(h uint64, key []byte) *frontEntry {
	i := h & f.mask
	if e := f.slots[i].Load(); e != nil && e.hash == h && equal(e.key, key) {
		return e
	}
	if e := f.slots[i^1].Load(); e != nil && e.hash == h && equal(e.key, key) {
		return e
	}
	return nil
}

// store puts e, whose hash is h, in one of its two slots: the one holding
// an entry of the same hash (stale bytes, or a collision), else an empty
// one, else h's own. Two keys sharing a slot both stay: with one slot each
// they displaced each other, and every request of one was verified the
// long way (BenchmarkDecideScale, active=10 at 10 keys).
func (f *Front) store(h uint64, e *frontEntry) {
	i := h & f.mask
	a, b := f.slots[i].Load(), f.slots[i^1].Load()
	switch {
	case a != nil && a.hash == h:
	case b != nil && b.hash == h, a != nil && b == nil:
		i ^= 1
	}
	f.slots[i].Store(e)
}

// frontHash spreads keys over the front's slots from three words of the
// key (its start, middle and end) and its length, folded by one multiply:
// a few ns, where xxhash of a 50-byte key took about 25 here
// (BenchmarkDecide). It needs no resistance to crafted collisions: only
// keys that verified are ever stored, and every hit is confirmed by
// comparing the whole key, so a collision costs one slot's reuse, never a
// wrong answer. Keys that differ only between the sampled words share a
// slot; generated secrets are random to the last byte, so they do not.
// TestFrontHashSpreads checks the spread.
func frontHash(key []byte) uint64 {
	n := len(key)
	var w uint64
	if n < 8 {
		for _, c := range key {
			w = w<<8 | uint64(c)
		}
	} else {
		a := binary.LittleEndian.Uint64(key)
		b := binary.LittleEndian.Uint64(key[n/2-4:])
		c := binary.LittleEndian.Uint64(key[n-8:])
		w = a ^ bits.RotateLeft64(b, 21) ^ bits.RotateLeft64(c, 43)
	}
	h := (w ^ uint64(n)) * 0x9e3779b97f4a7c15 // Fibonacci hashing: the top bits mix best
	return h ^ h>>29
}

// inWindow is rec if it is inside its validity window at now, else nil.
func inWindow(rec *policy.Key, now int64) *policy.Key {
	if !rec.InWindow(now) {
		return nil
	}
	return rec
}

// matches returns the cache entry of key if key's SHA-256 equals want, from
// the cache when it can, and nil otherwise. Only matching keys are cached,
// so random keys cannot flush it.
func (k *Keys) matches(key []byte, h uint64, want *[32]byte) *entry {
	if e, ok := k.cache.Get(h); ok && equal(e.key, key) {
		k.hits.Add(1)
		if !equal(e.digest[:], want[:]) {
			return nil
		}
		return e
	}
	k.misses.Add(1)
	d := sha256.Sum256(key)
	if !equal(d[:], want[:]) {
		return nil
	}
	e := &entry{key: append([]byte(nil), key...), digest: d}
	k.cache.Set(h, e, 1)
	return e
}

// Stats returns the ristretto cache's hits and the misses (digests
// computed) so far; front hits are Verify's to report.
func (k *Keys) Stats() (hits, misses uint64) { return k.hits.Load(), k.misses.Load() }

// Wait blocks until pending cache writes are applied (tests and benchmarks).
func (k *Keys) Wait() { k.cache.Wait() }

// Close releases the cache.
func (k *Keys) Close() { k.cache.Close() }
