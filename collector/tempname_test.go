package collector

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/portcullis/portcullis/internal/durable"
)

// plant puts kind ("fifo", "symlink" to outside, or "dir", not empty) at
// path.
func plant(t *testing.T, kind, path, outside string) {
	t.Helper()
	var err error
	switch kind {
	case "fifo":
		err = syscall.Mkfifo(path, 0o600)
	case "symlink":
		err = os.Symlink(outside, path)
	case "dir":
		err = os.MkdirAll(filepath.Join(path, "x"), 0o700)
		if err == nil {
			err = os.WriteFile(filepath.Join(path, "x", "evidence"), []byte("left by whoever planted it\n"), 0o600)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// plantedStore opens a store in a new folder that rotates at every
// append after a segment's first, and collects what OnPlanted reports.
func plantedStore(t *testing.T, key ed25519.PrivateKey) (string, *Store, *[]string) {
	t.Helper()
	dir := t.TempDir()
	var reported []string
	st, err := OpenStore(dir, StoreConfig{SigningKey: key, SegmentMaxBytes: 1,
		OnPlanted: func(what string) { reported = append(reported, what) }})
	if err != nil {
		t.Fatal(err)
	}
	return dir, st, &reported
}

// checkCleared checks that what was planted at path was reported once,
// is gone from path without harm to outside (the symlink's target) and,
// a directory, was moved aside whole; then that the trail verifies.
func checkCleared(t *testing.T, kind, dir, path, outside string, st *Store, reported []string) {
	t.Helper()
	if len(reported) != 1 || !strings.Contains(reported[0], "planted at \""+path+"\"") {
		t.Errorf("OnPlanted reported %q; want one line naming %s", reported, path)
	}
	if fi, err := os.Lstat(path); err == nil {
		t.Errorf("%s still at the temporary name: %v", kind, fi.Mode())
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "outside the store\n" {
		t.Errorf("the file outside the store a link pointed at is now %q, %v", b, err)
	}
	if kind == "dir" {
		aside, _ := filepath.Glob(filepath.Join(dir, plantedPrefix+"*"))
		if len(aside) != 1 {
			t.Fatalf("directories moved aside: %q, want 1", aside)
		}
		if b, err := os.ReadFile(filepath.Join(aside[0], "x", "evidence")); err != nil || string(b) != "left by whoever planted it\n" {
			t.Errorf("the planted directory moved aside lost its content: %q, %v", b, err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(dir, st.pub())
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep)
}

// TestRotationClearsWhatIsPlantedAtTheDigestTemp: a FIFO, a symlink to a
// file outside the store or a directory with files in it, planted at the
// temporary name of a segment's digest (durable.TempName), failed every
// rotation: each counted as deferred, and the open segment grew past its
// size without end. What is planted there is now cleared away (the
// symlink removed, never followed; the directory moved aside, unread),
// reported, and the digest written: the segment rotates and the trail
// verifies.
func TestRotationClearsWhatIsPlantedAtTheDigestTemp(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"fifo", "symlink", "dir"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			key := newTestKey(t)
			dir, st, reported := plantedStore(t, key)
			outside := filepath.Join(t.TempDir(), "outside")
			if err := os.WriteFile(outside, []byte("outside the store\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, durable.TempName(digestName(1)))
			plant(t, kind, path, outside)
			appendBatches(t, st, 0, 3)
			if d := st.Stats().Deferred; d != 0 {
				t.Errorf("%d failures deferred; want the rotation to succeed", d)
			}
			for n := uint64(1); n <= 2; n++ {
				if _, err := os.Stat(filepath.Join(dir, digestName(n))); err != nil {
					t.Errorf("segment %d not rotated: %v", n, err)
				}
			}
			checkCleared(t, kind, dir, path, outside, st, *reported)
		})
	}
}

// TestHeadInstallClearsWhatIsPlantedAtItsTemp: a directory with files in
// it planted at head.json's temporary name failed every head install
// (each append's, counted as deferred) for good. It is now moved aside,
// unread, and reported, and head.json installed; a FIFO or a symlink
// there is removed, never followed, and reported too (it was removed
// unreported). The trail verifies.
func TestHeadInstallClearsWhatIsPlantedAtItsTemp(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"fifo", "symlink", "dir"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			key := newTestKey(t)
			dir, st, reported := plantedStore(t, key)
			outside := filepath.Join(t.TempDir(), "outside")
			if err := os.WriteFile(outside, []byte("outside the store\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, headTemp)
			plant(t, kind, path, outside)
			appendBatches(t, st, 0, 1)
			if d := st.Stats().Deferred; d != 0 {
				t.Errorf("%d failures deferred; want the head installed", d)
			}
			doc, err := os.ReadFile(filepath.Join(dir, headFile))
			if err != nil {
				t.Fatal(err)
			}
			if h, err := OpenHead(doc, st.pub()); err != nil || h.Seq != 1 {
				t.Errorf("head.json names %+v (%v); want seq 1, the batch appended", h, err)
			}
			checkCleared(t, kind, dir, path, outside, st, *reported)
		})
	}
}
