package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A batch copied into the spool by hand (an operator restoring it file by
// file) after a write claimed its name, while the write's bytes were
// being committed, was renamed over: claim looks for a file at the name,
// but the rename came after the fsync, and replaced what stood there by
// then, its records lost. The rename now never replaces a batch; the
// write takes the next free name. Not parallel: it replaces fsync.
func TestSpoolWriteDoesNotReplaceABatchRestoredMeanwhile(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	restored := []byte("restored batch")
	name := spoolName(1, 1)
	first := true
	fsync = func(fd int) error {
		if first { // the batch's own file: its name is claimed by now
			first = false
			if err := os.WriteFile(filepath.Join(dir, name), restored, 0o600); err != nil {
				t.Error(err)
			}
		}
		return unix.Fsync(fd)
	}
	defer func() { fsync = unix.Fsync }()
	if err := s.put(1, 1, []byte("new batch")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Equal(got, restored) {
		t.Errorf("the restored batch %s holds %q (%v) after a write; want %q", name, got, err, restored)
	}
	ents, _ := os.ReadDir(dir)
	found := false
	for _, e := range ents {
		if b, _ := os.ReadFile(filepath.Join(dir, e.Name())); string(b) == "new batch" {
			found = true
		}
	}
	if !found {
		t.Errorf("the new batch is in none of the spool's files %v", ents)
	}
}
