// Package authn verifies API keys for the data plane, with a cache of
// verification results.
//
// An API key "pk_<id>_<secret>" is checked by looking its id up in the
// current policy snapshot and comparing the SHA-256 of the whole presented
// key with the stored digest in constant time. The SHA-256 is what the
// caches save, in two levels:
//
//   - a front table per policy snapshot, indexed by a cheap hash of the
//     presented key (frontHash), whose slots hold keys that verified
//     against a record of that snapshot, with the record: a hit is the
//     hash, an atomic load and a constant-time compare of the presented
//     bytes, with no parsing of the key and no lookup by id;
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
// Keys is safe for concurrent use. Verify does not allocate on a hit or on a
// failure; the first success of a key allocates its cache entry, and the
// first per snapshot its front entry.
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
	front  atomic.Pointer[front]
	cache  *ristretto.Cache[uint64, *entry]
	hits   atomic.Uint64
	misses atomic.Uint64
}

// entry is a verified key and its digest. It is immutable once cached.
type entry struct {
	key    []byte
	digest [32]byte
}

// front is a direct-mapped table of keys that verified against key
// records of snap, by xxhash. A slot keeps the last key stored under its
// index; keys whose hashes share an index displace each other and are
// verified again on the way through the ristretto cache.
type front struct {
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

// frontFor returns the front of snap, starting an empty one when the
// snapshot changed. Racing requests may each start one; the last stored
// wins and the others' entries are merely not remembered.
func (k *Keys) frontFor(snap *policy.Snapshot) *front {
	if f := k.front.Load(); f != nil && f.snap == snap {
		return f
	}
	return k.newFront(snap)
}

// newFront starts the empty front of snap.
func (k *Keys) newFront(snap *policy.Snapshot) *front {
	n := 16 // at least twice the keys, so that few share a slot
	for n < 2*snap.KeyCount() && n < maxFront {
		n *= 2
	}
	f := &front{snap: snap, mask: uint64(n - 1), slots: make([]atomic.Pointer[frontEntry], n)}
	k.front.Store(f)
	return f
}

// absent is compared against when the key id is unknown, so an unknown id
// costs the same digest and comparison as a known one.
var absent [32]byte

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
// expired and revoked all return nil alike. Suspension of the key's client
// is the caller's to check: it is a different answer. id is the key id
// parsed from key (nil if malformed); it aliases key. hit reports an
// answer from the front, which Stats does not count: the caller counts
// front hits with the request (the data plane's metrics cell), so a hit
// costs no atomic add of its own.
func (k *Keys) Verify(snap *policy.Snapshot, key []byte, now int64) (rec *policy.Key, id []byte, hit bool) {
	h := frontHash(key)
	f := k.frontFor(snap)
	slot := &f.slots[h&f.mask]
	if e := slot.Load(); e != nil && e.hash == h && equal(e.key, key) {
		// Stored only after these very bytes passed SplitKey and their
		// digest matched e.rec, a record of this snapshot; the key is
		// "pk_" + id + "_" + secret.
		return inWindow(e.rec, now), key[len(policy.KeyPrefix) : len(policy.KeyPrefix)+len(e.rec.ID)], true
	}
	id, ok := policy.SplitKey(key)
	if !ok {
		return nil, nil, false
	}
	xh := xxhash.Sum64(key)
	if rec = snap.Key(id); rec == nil {
		k.matches(key, xh, &absent) // an unknown id costs what a known one does
		return nil, id, false
	}
	e := k.matches(key, xh, &rec.Digest)
	if e == nil {
		return nil, id, false
	}
	slot.Store(&frontEntry{hash: h, key: e.key, rec: rec})
	return inWindow(rec, now), id, false
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
