package collector

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartRefusesStoreWithoutHead (headtrail153): head.json deleted
// while segments remain was a break the start recorded and appended past
// (the other deletions at the start are refused: the newest segment or
// digest, the oldest segments without a retention entry), so whoever
// deleted the head could cut the newest entries with it and the
// collector signed a new head over what was left. No crash leaves a store
// without its head (it is written before the first segment and replaced
// only by a rename): the start refuses it, naming the file and the way
// on, and takes it only with AcceptMissingHead, which the break names.
func TestStartRefusesStoreWithoutHead(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		crash bool // the collector crashed, its segment open
		plant func(t *testing.T, path string)
		want  string
	}{
		"closed, head deleted":                      {false, nil, "head.json is gone"},
		"crashed with a segment open, head deleted": {true, nil, "head.json is gone"},
		"a directory at head.json": {false, func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, "head.json is a directory"},
		"a symbolic link at head.json": {true, func(t *testing.T, path string) {
			mustSymlink(t, filepath.Join(t.TempDir(), "nowhere"), path)
		}, "head.json is a symbolic link"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir, key := t.TempDir(), newTestKey(t)
			cfg := StoreConfig{SegmentMaxBytes: 1500}
			st := openTestStore(t, dir, key, cfg, 0, 12)
			if tc.crash {
				st.seg.Close()
			} else {
				st.Close()
			}
			head := filepath.Join(dir, headFile)
			if err := os.Remove(head); err != nil {
				t.Fatal(err)
			}
			if tc.plant != nil {
				tc.plant(t, head)
			}
			rep, err := Verify(dir, pubOf(key))
			if err != nil {
				t.Fatal(err)
			}
			wantProblems(t, rep, ProblemMissingHead)
			if d := rep.Problems[0].Detail; !strings.Contains(d, tc.want) || !strings.Contains(d, "deleted") || !strings.Contains(d, "--published-head") {
				t.Errorf("verify's problem = %q; want it to say %q, that it was deleted and to compare with a published head", d, tc.want)
			}

			cfg.SigningKey = key
			st, err = OpenStore(dir, cfg)
			if err == nil {
				st.Close()
				t.Fatalf("OpenStore took a store of %d segments whose head is gone", len(mustList(t, dir)))
			}
			for _, want := range []string{tc.want, "run audit verify", "--accept-missing-head", "--publish-head"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("OpenStore = %v; want it to name %q", err, want)
				}
			}
			if tc.plant != nil { // the operator clears what stands there
				if err := os.Remove(head); err != nil {
					t.Fatal(err)
				}
			}
			cfg.AcceptMissingHead = "the operator"
			st = openTestStore(t, dir, key, cfg, 100, 1)
			st.Close()
			if st.Stats().Breaks != 1 {
				t.Errorf("breaks = %d, want 1", st.Stats().Breaks)
			}
			rep, _ = Verify(dir, pubOf(key))
			wantProblems(t, rep, ProblemRecordedBreak)
			if d := rep.Problems[0].Detail; !strings.Contains(d, "head.json is gone, accepted at the start by the operator") {
				t.Errorf("break = %q; want it to name the head gone and who accepted it", d)
			}
		})
	}
}

// TestStartWithoutHeadTakesCrashStates: the states a crash leaves around
// the head still start: a new store before its first head (the marker
// written, nothing else), the head's temporary file written and not
// renamed (and the one of a collector before the head was fsync'd, at
// its old name, which the start removes), and the newest head's rename
// lost, the head before it in place, whole. A head renamed into place
// unwritten (empty) was one too, and a recorded break: the head is now
// written through (fsync'd) before its rename, so no crash leaves it,
// and the start refuses it (TestStartRefusesStoreWithInvalidHead).
func TestStartWithoutHeadTakesCrashStates(t *testing.T) {
	t.Parallel()
	t.Run("a new store, before its first head", func(t *testing.T) {
		t.Parallel()
		dir, key := t.TempDir(), newTestKey(t)
		if err := writeMarker(dir); err != nil {
			t.Fatal(err)
		}
		st := openTestStore(t, dir, key, StoreConfig{}, 0, 2)
		st.Close()
		rep, _ := Verify(dir, pubOf(key))
		wantProblems(t, rep)
	})
	for _, tmp := range []string{headTemp, oldHeadTemp} {
		t.Run("the head's temporary file "+tmp+" written, not renamed", func(t *testing.T) {
			t.Parallel()
			dir, key := t.TempDir(), newTestKey(t)
			st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 12)
			st.seg.Close()
			if err := os.WriteFile(filepath.Join(dir, tmp), []byte(`{"payl`), 0o600); err != nil {
				t.Fatal(err)
			}
			st = openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 100, 1)
			st.Close()
			rep, _ := Verify(dir, pubOf(key))
			wantProblems(t, rep)
			if _, err := os.Lstat(filepath.Join(dir, tmp)); err == nil {
				t.Errorf("%s left in the store", tmp)
			}
		})
	}
	t.Run("the newest head's rename lost, the head before in place", func(t *testing.T) {
		t.Parallel()
		dir, key := t.TempDir(), newTestKey(t)
		st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 12)
		before, err := os.ReadFile(filepath.Join(dir, headFile))
		if err != nil {
			t.Fatal(err)
		}
		appendBatches(t, st, 12, 1)
		st.seg.Close()
		if err := os.WriteFile(filepath.Join(dir, headFile), before, 0o600); err != nil {
			t.Fatal(err)
		}
		st = openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 100, 1)
		st.Close()
		if st.Stats().Breaks != 0 {
			t.Errorf("breaks = %d, want none", st.Stats().Breaks)
		}
		rep, _ := Verify(dir, pubOf(key))
		wantProblems(t, rep)
	})
}

func mustList(t *testing.T, dir string) []uint64 {
	t.Helper()
	segs, _, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

// TestVerifySaysWhyTheHeadIsMissing: verify named a missing head only
// when a segment file was left: a store whose segment files were all
// deleted with its head, its digests left, was reported for the
// segments and not for the head.
func TestVerifySaysWhyTheHeadIsMissing(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 12).Close()
	for _, n := range mustList(t, dir) {
		if err := os.Remove(filepath.Join(dir, segName(n))); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(dir, headFile)); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, pubOf(key))
	if err != nil {
		t.Fatal(err)
	}
	var named bool
	for _, p := range rep.Problems {
		named = named || p.What == ProblemMissingHead && strings.Contains(p.Detail, "0 segment files and 12 digests")
	}
	if !named {
		t.Errorf("verify of a store of digests alone, its head deleted: %v; want the head named missing", rep.Problems)
	}
}
