package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartRefusesNewestSegmentDeleted: the newest segment deleted with
// its digest under the signed head that names it (the collector closed,
// so the newest is sealed), or the open segment deleted under the head
// naming it after a crash, left no gap the start's check saw: the start
// recorded a break and appended on, and the digest alone deleted (the
// newest sealed segment's file left) was taken as an open segment and
// appended to, sealed again later under a new digest: nothing told. A
// collector never leaves these: it creates a segment durably before the
// head names it, and writes a digest durably before the head says it is
// sealed (the head's signed "sealed"). The start refuses them, naming
// the files.
func TestStartRefusesNewestSegmentDeleted(t *testing.T) {
	t.Parallel()
	closed := func(t *testing.T) (string, []byte, uint64) {
		dir, key := t.TempDir(), newTestKey(t)
		st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 12)
		st.Close()
		segs, digests, _ := listSegments(dir)
		if len(digests) < 3 || segs[len(segs)-1] != digests[len(digests)-1] {
			t.Fatalf("segments %v, digests %v: the test needs a closed store of 3 sealed segments", segs, digests)
		}
		return dir, key, digests[len(digests)-1]
	}
	for name, tc := range map[string]struct {
		store  func(t *testing.T) (dir string, key []byte, n uint64)
		delete func(n uint64) []string
		want   func(n uint64) []string
	}{
		"the newest sealed segment and its digest, the head naming it": {
			closed,
			func(n uint64) []string { return []string{segName(n), digestName(n)} },
			func(n uint64) []string {
				return []string{segName(n) + " and " + digestName(n) + " are gone", "the signed head says segment " + itoa(int(n)) + " was sealed"}
			},
		},
		"the newest sealed segment's digest, its file left": {
			closed,
			func(n uint64) []string { return []string{digestName(n)} },
			func(n uint64) []string {
				return []string{digestName(n), "the signed head says segment " + itoa(int(n)) + " was sealed"}
			},
		},
		"the open segment, the head naming it, after a crash": {
			func(t *testing.T) (string, []byte, uint64) {
				dir, key, _, open := contiguousStore(t)
				return dir, key, open
			},
			func(n uint64) []string { return []string{segName(n)} },
			func(n uint64) []string { return []string{segName(n), "the signed head names segment " + itoa(int(n))} },
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir, key, n := tc.store(t)
			for _, f := range tc.delete(n) {
				if err := os.Remove(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
			st, err := OpenStore(dir, StoreConfig{SigningKey: key, SegmentMaxBytes: 1500})
			if err == nil {
				st.Close()
				t.Fatalf("OpenStore took the store with %v deleted", tc.delete(n))
			}
			for _, want := range append(tc.want(n), "run audit verify") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("OpenStore = %v; want it to name %q", err, want)
				}
			}
		})
	}
}
