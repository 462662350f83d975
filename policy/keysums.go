package policy

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The key part of the snapshot digest is kept so that one key record
// changes a small part of it: the records' sums go into sumBuckets
// buckets by the hash of their id, each bucket has its digest, and the
// key part is the digest of the buckets' digests. At 100,000 keys an edit
// copies and hashes one bucket of about 400 sums, 13 KB, where hashing
// every sum (3.2 MB) took milliseconds and encoding every record hundreds
// of them. The buckets are a function of the records alone, so a compile
// and any history of amendments give the same digest.
const sumBuckets = 256

// keySum is the SHA-256 of one live key record's JSON, by its id.
type keySum struct {
	id  string
	sum [32]byte
}

// keySet holds the sums of the live key records: bucket i holds the
// records whose id has a 64-bit FNV-1a hash (as hash/fnv computes it) of
// i modulo sumBuckets, in id order, with the SHA-256 of their sums. A
// keySet is never modified once made; edit makes another that shares the
// buckets not edited.
type keySet [sumBuckets]sumBucket

type sumBucket struct {
	sums   []keySum
	digest [32]byte
}

func bucketOf(id string) int {
	h := uint64(14695981039346656037)
	for i := range len(id) {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return int(h % sumBuckets)
}

func byID(a, b keySum) int { return strings.Compare(a.id, b.id) }

func sumKey(ks *KeySpec) ([32]byte, error) {
	b, err := json.Marshal(ks)
	if err != nil {
		return [32]byte{}, fmt.Errorf("cannot fingerprint key record %q: %w", ks.ID, err)
	}
	return sha256.Sum256(b), nil
}

// newKeySet sums the records of keys. twice reports an id that comes
// twice in keys (never from etcd, whose ids are unique).
func newKeySet(keys []KeySpec) (set *keySet, twice bool, err error) {
	set = new(keySet)
	for i := range keys {
		sum, err := sumKey(&keys[i])
		if err != nil {
			return nil, false, err
		}
		b := &set[bucketOf(keys[i].ID)]
		b.sums = append(b.sums, keySum{keys[i].ID, sum})
	}
	for i := range set {
		b := &set[i]
		if !slices.IsSortedFunc(b.sums, byID) { // a Syncer sorts them
			slices.SortStableFunc(b.sums, byID)
		}
		for j := 1; j < len(b.sums); j++ {
			twice = twice || b.sums[j].id == b.sums[j-1].id
		}
		b.digest = digestSums(b.sums)
	}
	return set, twice, nil
}

// edit returns set with the records of edits summed in and the deleted
// ones left out. Only the buckets edited are copied.
func (set *keySet) edit(edits KeyEdits) (*keySet, error) {
	out := *set
	touched := map[int][]string{}
	for id := range edits {
		b := bucketOf(id)
		touched[b] = append(touched[b], id)
	}
	for i, ids := range touched {
		slices.Sort(ids)
		old := set[i].sums
		sums := make([]keySum, 0, len(old)+len(ids))
		for _, id := range ids {
			at, found := slices.BinarySearchFunc(old, keySum{id: id}, byID)
			sums = append(sums, old[:at]...)
			if old = old[at:]; found {
				old = old[1:]
			}
			if ks := edits[id]; ks != nil {
				sum, err := sumKey(ks)
				if err != nil {
					return nil, err
				}
				sums = append(sums, keySum{id, sum})
			}
		}
		sums = append(sums, old...)
		out[i] = sumBucket{sums: sums, digest: digestSums(sums)}
	}
	return &out, nil
}

// digest is the SHA-256 of the buckets' digests, in bucket order.
func (set *keySet) digest() [32]byte {
	var all [sumBuckets * 32]byte
	for i := range set {
		copy(all[i*32:], set[i].digest[:])
	}
	return sha256.Sum256(all[:])
}

// digestSums is the SHA-256 of sums, in order.
func digestSums(sums []keySum) [32]byte {
	h := sha256.New()
	for i := range sums {
		h.Write(sums[i].sum[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// sortedNotes returns the values of notes in the order of their keys.
func sortedNotes(notes map[string]string) []string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(notes)) {
		out = append(out, notes[id])
	}
	return out
}
