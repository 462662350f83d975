// Package authn verifies API keys for the data plane, with a cache of
// verification results.
//
// An API key "pk_<id>_<secret>" is checked by looking its id up in the
// current policy snapshot and comparing the SHA-256 of the whole presented
// key with the stored digest in constant time. The SHA-256 is what the
// caches save, in two levels:
//
//   - a front with one slot per key record of the current snapshot, holding
//     the bytes that last verified against that record: a hit is an atomic
//     load and a constant-time compare of the presented bytes (about 10 ns);
//   - behind it the ristretto cache keyed by the xxhash of the presented
//     key, holding the key bytes and their digest. It outlives snapshots, so
//     a policy push (which starts an empty front) costs no SHA-256 for keys
//     seen before; on CPUs without SHA instructions that is what it saves.
//
// A hit at either level counts only when the stored bytes equal the
// presented ones (constant-time compare), so an xxhash collision or a
// shared key id can never authenticate a different key. Validity,
// revocation and suspension are never cached: they are read from the
// snapshot on every request, hit or miss.
//
// Keys is safe for concurrent use. Verify does not allocate on a hit or on a
// failure; a first success allocates one cache entry.
package authn

import (
	"crypto/sha256"
	"fmt"
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

// front holds, per key record of snap (by Key.Index), the entry that last
// verified against it.
type front struct {
	snap  *policy.Snapshot
	slots []atomic.Pointer[entry]
}

// frontFor returns the front of snap, starting an empty one when the
// snapshot changed. Racing requests may each start one; the last stored
// wins and the others' entries are merely not remembered.
func (k *Keys) frontFor(snap *policy.Snapshot) *front {
	if f := k.front.Load(); f != nil && f.snap == snap {
		return f
	}
	f := &front{snap: snap, slots: make([]atomic.Pointer[entry], snap.KeyCount())}
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
// parsed from key (nil if malformed); it aliases key.
func (k *Keys) Verify(snap *policy.Snapshot, key []byte, now int64) (rec *policy.Key, id []byte) {
	id, ok := policy.KeyID(key)
	if !ok {
		return nil, nil
	}
	rec = snap.Key(id)
	var slot *atomic.Pointer[entry]
	if rec != nil {
		slot = &k.frontFor(snap).slots[rec.Index]
		if e := slot.Load(); e != nil && equal(e.key, key) {
			// Stored only after these very bytes passed SplitKey and their
			// digest matched this record.
			k.hits.Add(1)
			return inWindow(rec, now), id
		}
	}
	if _, ok := policy.SplitKey(key); !ok {
		return nil, nil
	}
	if rec == nil {
		k.matches(key, &absent) // an unknown id costs what a known one does
		return nil, id
	}
	e := k.matches(key, &rec.Digest)
	if e == nil {
		return nil, id
	}
	slot.Store(e)
	return inWindow(rec, now), id
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
func (k *Keys) matches(key []byte, want *[32]byte) *entry {
	h := xxhash.Sum64(key)
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

// Stats returns the cache hits and misses so far.
func (k *Keys) Stats() (hits, misses uint64) { return k.hits.Load(), k.misses.Load() }

// Wait blocks until pending cache writes are applied (tests and benchmarks).
func (k *Keys) Wait() { k.cache.Wait() }

// Close releases the cache.
func (k *Keys) Close() { k.cache.Close() }
