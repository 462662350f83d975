package durable

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(dir, "a", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(dir, "a", []byte("two")); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "a"))
	if err != nil || string(got) != "two" {
		t.Errorf("read back %q, %v; want %q", got, err, "two")
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-a")); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
}

// A symlink planted at the temporary name is not written through.
func TestWriteFileRefusesPlantedLink(t *testing.T) {
	dir, outside := t.TempDir(), filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, ".tmp-a")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(dir, "a", []byte("evil")); err == nil {
		t.Error("WriteFile through a planted symlink succeeded")
	}
	if got, _ := os.ReadFile(outside); string(got) != "keep" {
		t.Errorf("file behind the link = %q, want it untouched", got)
	}
}

// A hard link planted at the temporary name, which O_NOFOLLOW does not
// refuse (it is a regular file), is not written through: WriteFile
// truncated and filled the file it names, anywhere on the file system
// (the collector's digests and resume file, the spool's batches).
func TestWriteFileNotThroughPlantedHardLink(t *testing.T) {
	dir, outside := t.TempDir(), filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(outside, filepath.Join(dir, ".tmp-a")); err != nil {
		t.Skipf("cannot hard-link across the test's directories: %v", err)
	}
	if err := WriteFile(dir, "a", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(outside); string(got) != "keep" {
		t.Errorf("file behind the hard link = %q, want it untouched", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a")); string(got) != "new" {
		t.Errorf("written file = %q, want %q", got, "new")
	}
}
