package collector

import (
	"crypto/ed25519"
	"testing"
)

// benchSegments is the store size of the start-up benchmarks.
const benchSegments = 1000

// segmentedStore writes a store of n sealed segments of one batch each.
func segmentedStore(b *testing.B, n int) (string, ed25519.PrivateKey) {
	b.Helper()
	key := newTestKey(b)
	dir := b.TempDir()
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		a := sampleRecord(i)
		if err := st.AppendBatch(&Batch{ID: "b" + itoa(i), Records: []StoredRecord{Stored(&a)}}); err != nil {
			b.Fatal(err)
		}
		if err := st.Rotate(); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	return dir, key
}

// BenchmarkOpenStore1000Segments is the collector's start on a store of
// 1,000 sealed segments: recovery, which checks every digest and reads
// every segment's batch ids.
func BenchmarkOpenStore1000Segments(b *testing.B) {
	dir, key := segmentedStore(b, benchSegments)
	for b.Loop() {
		st, err := OpenStore(dir, StoreConfig{SigningKey: key})
		if err != nil {
			b.Fatal(err)
		}
		st.Close()
	}
}

// BenchmarkLoadKeys1000Segments is LoadKeys (verify, query and the
// start read it) on a store of 1,000 segments never rotated: the first
// line of every segment.
func BenchmarkLoadKeys1000Segments(b *testing.B) {
	dir, key := segmentedStore(b, benchSegments)
	pub := key.Public().(ed25519.PublicKey)
	for b.Loop() {
		if _, err := LoadKeys(dir, pub); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckDigests1000Segments is the part of that start which
// checks every digest (Store.checkDigests): the cost of refusing a store
// whose key was swapped without a rotation.
func BenchmarkCheckDigests1000Segments(b *testing.B) {
	dir, key := segmentedStore(b, benchSegments)
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	_, digests, err := listSegments(dir)
	if err != nil || len(digests) != benchSegments {
		b.Fatalf("%d digests, %v", len(digests), err)
	}
	for b.Loop() {
		if _, err := st.checkDigests(digests); err != nil {
			b.Fatal(err)
		}
	}
}
