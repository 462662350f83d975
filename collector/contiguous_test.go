package collector

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// contiguousStore builds a store of several sealed segments and an open
// one left by a crash (no digest, the head naming it), and returns its
// directory, the sealed segments' numbers and the open one's.
func contiguousStore(t *testing.T) (dir string, key ed25519.PrivateKey, digests []uint64, open uint64) {
	t.Helper()
	dir, key = t.TempDir(), newTestKey(t)
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 12)
	st.seg.Close() // a crash: the open segment keeps no digest
	segs, digests, _ := listSegments(dir)
	if len(digests) < 4 || segs[len(segs)-1] != digests[len(digests)-1]+1 {
		t.Fatalf("segments %v, digests %v: the test needs 4 sealed and an open one", segs, digests)
	}
	return dir, key, digests, segs[len(segs)-1]
}

// TestStartRefusesDigestGap: the start checked each digest present and
// the link between two adjacent ones, but not that they run from segment
// 1 to the newest sealed one: a digest deleted (its segment kept or not),
// or the newest sealed segment deleted with its digest under a later
// open segment, and the collector started and appended on, the gap found
// by verify only (missing digest, missing segment). Retention keeps every
// digest, so a gap is never retention's: the start refuses it, naming
// what is missing.
func TestStartRefusesDigestGap(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		tamper func(dir string, digests []uint64, open uint64)
		want   func(digests []uint64, open uint64) string
	}{
		"a middle digest deleted": {
			func(dir string, d []uint64, _ uint64) { os.Remove(filepath.Join(dir, digestName(d[1]))) },
			func(d []uint64, _ uint64) string { return digestName(d[1]) },
		},
		"a middle segment and its digest deleted": {
			func(dir string, d []uint64, _ uint64) {
				os.Remove(filepath.Join(dir, segName(d[1])))
				os.Remove(filepath.Join(dir, digestName(d[1])))
			},
			func(d []uint64, _ uint64) string { return segName(d[1]) + " and " + digestName(d[1]) },
		},
		"two middle segments and their digests deleted": {
			func(dir string, d []uint64, _ uint64) {
				for _, n := range d[1:3] {
					os.Remove(filepath.Join(dir, segName(n)))
					os.Remove(filepath.Join(dir, digestName(n)))
				}
			},
			func(d []uint64, _ uint64) string { return "segments " + itoa(int(d[1])) + " to " + itoa(int(d[2])) },
		},
		"a middle segment deleted, its digest kept": {
			func(dir string, d []uint64, _ uint64) { os.Remove(filepath.Join(dir, segName(d[1]))) },
			func(d []uint64, _ uint64) string {
				return segName(d[1]) + " is gone (" + digestName(d[1]) + " is left)"
			},
		},
		"the newest sealed segment deleted, its digest kept": {
			func(dir string, d []uint64, _ uint64) { os.Remove(filepath.Join(dir, segName(d[len(d)-1]))) },
			func(d []uint64, _ uint64) string {
				n := d[len(d)-1]
				return segName(n) + " is gone (" + digestName(n) + " is left)"
			},
		},
		"the first segment and its digest deleted": {
			func(dir string, d []uint64, _ uint64) {
				os.Remove(filepath.Join(dir, segName(1)))
				os.Remove(filepath.Join(dir, digestName(1)))
			},
			func(d []uint64, _ uint64) string { return segName(1) + " and " + digestName(1) },
		},
		"the newest sealed segment and its digest deleted": {
			func(dir string, d []uint64, _ uint64) {
				last := d[len(d)-1]
				os.Remove(filepath.Join(dir, segName(last)))
				os.Remove(filepath.Join(dir, digestName(last)))
			},
			func(d []uint64, _ uint64) string { n := d[len(d)-1]; return segName(n) + " and " + digestName(n) },
		},
		"the newest sealed and the open segment deleted": {
			func(dir string, d []uint64, open uint64) {
				last := d[len(d)-1]
				os.Remove(filepath.Join(dir, segName(last)))
				os.Remove(filepath.Join(dir, digestName(last)))
				os.Remove(filepath.Join(dir, segName(open)))
			},
			func(d []uint64, open uint64) string {
				n := d[len(d)-1]
				return segName(n) + " and " + digestName(n) + " are gone (the signed head names segment " + itoa(int(open)) + ")"
			},
		},
		"the first segment deleted and the rest renumbered": {
			func(dir string, d []uint64, open uint64) {
				os.Remove(filepath.Join(dir, segName(1)))
				os.Remove(filepath.Join(dir, digestName(1)))
				for n := uint64(2); n <= open; n++ {
					os.Rename(filepath.Join(dir, segName(n)), filepath.Join(dir, segName(n-1)))
					os.Rename(filepath.Join(dir, digestName(n)), filepath.Join(dir, digestName(n-1)))
				}
			},
			func([]uint64, uint64) string { return digestName(1) + `" carries the signature of a digest before it` },
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir, key, digests, open := contiguousStore(t)
			tc.tamper(dir, digests, open)
			rep, err := Verify(dir, pubOf(key))
			if err != nil {
				t.Fatal(err)
			}
			if !hasWhat(rep, ProblemMissingDigest) && !hasWhat(rep, ProblemMissingSegment) {
				t.Fatalf("verify of the store as left: %v, want a missing digest or segment", problems(rep))
			}
			st, err := OpenStore(dir, StoreConfig{SigningKey: key, SegmentMaxBytes: 1500})
			if err == nil {
				st.Close()
				t.Fatalf("OpenStore took the store with %s (verify: %v)", name, problems(rep))
			}
			want := tc.want(digests, open)
			if msg := err.Error(); !strings.Contains(msg, want) || !strings.Contains(msg, "run audit verify") {
				t.Errorf("OpenStore = %v; want it to name %q and say to run audit verify", err, want)
			}
		})
	}
}

// TestStartTakesStorePrunedByRetention: retention deletes the oldest
// segments and keeps their digests, so the digests still run from
// segment 1 and the collector starts on the pruned store.
func TestStartTakesStorePrunedByRetention(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	now := time.Now().Add(-3 * time.Hour)
	cfg := StoreConfig{SegmentMaxBytes: 1500, Retention: time.Hour, Now: func() time.Time { return now }}
	st := openTestStore(t, dir, key, cfg, 0, 12)
	_, digests, _ := listSegments(dir)
	now = now.Add(2 * time.Hour)
	if err := st.Maintain(now); err != nil {
		t.Fatal(err)
	}
	st.Close()
	segs, _, _ := listSegments(dir)
	if len(segs) == 0 || segs[0] <= digests[len(digests)-1] {
		t.Fatalf("segments %v left of the sealed %v: retention deleted none", segs, digests)
	}
	st = openTestStore(t, dir, key, cfg, 100, 2)
	st.Close()
	rep, _ := VerifyWith(dir, pubOf(key), VerifyOptions{Now: now})
	wantProblems(t, rep)
	if rep.Expired != len(digests) {
		t.Errorf("expired = %d, want %d", rep.Expired, len(digests))
	}
}

// TestStartRefusesSealedSegmentCut (attack137): a sealed segment emptied
// or cut short, its file and digest left, is as good as deleted, but the
// segment file is there, so checkContiguous saw no hole and the
// collector started and appended on; verify reports a digest mismatch.
// The start refuses a sealed segment shorter than its signed digest.
func TestStartRefusesSealedSegmentCut(t *testing.T) {
	t.Parallel()
	for name, cut := range map[string]func(size int64) int64{
		"emptied":               func(int64) int64 { return 0 },
		"its last entries cut":  func(size int64) int64 { return size / 2 },
		"its last byte cut off": func(size int64) int64 { return size - 1 },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir, key, digests, _ := contiguousStore(t)
			path := filepath.Join(dir, segName(digests[1]))
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, cut(fi.Size())); err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(dir, pubOf(key))
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatalf("verify of the store with segment %d %s: no problem", digests[1], name)
			}
			st, err := OpenStore(dir, StoreConfig{SigningKey: key, SegmentMaxBytes: 1500})
			if err == nil {
				st.Close()
				t.Fatalf("OpenStore took the store with sealed segment %d %s (verify: %v)", digests[1], name, problems(rep))
			}
			if msg := err.Error(); !strings.Contains(msg, segName(digests[1])) || !strings.Contains(msg, "run audit verify") {
				t.Errorf("OpenStore = %v; want it to name %s and say to run audit verify", err, segName(digests[1]))
			}
		})
	}
}

// TestStartNamesManyOpenSegmentsBounded (attack137): segment files
// planted by the thousand right after the open one, with no digest, are
// refused at the start; the error named every one of them (an error line
// as long as the attacker likes). It names a few and how many more.
func TestStartNamesManyOpenSegmentsBounded(t *testing.T) {
	t.Parallel()
	dir, key, _, open := contiguousStore(t)
	for n := open + 1; n <= open+2000; n++ {
		if err := os.WriteFile(filepath.Join(dir, segName(n)), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := OpenStore(dir, StoreConfig{SigningKey: key, SegmentMaxBytes: 1500})
	if err == nil {
		st.Close()
		t.Fatal("OpenStore took a store with 2001 segments without a digest")
	}
	if msg := err.Error(); len(msg) > 1000 || !strings.Contains(msg, "and 1993 more") {
		t.Errorf("OpenStore = %d bytes of error (%.200s...); want a few segments named and how many more", len(msg), msg)
	}
}
