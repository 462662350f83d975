package durable

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// ReadRegularMax reads a file up to its cap and refuses a larger one,
// naming its size and the cap, without reading it.
func TestReadRegularMax(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadRegularMax(p, 5); err != nil || string(b) != "12345" {
		t.Errorf("ReadRegularMax at the cap = %q, %v; want the file", b, err)
	}
	if _, err := ReadRegularMax(p, 4); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "it is 5 bytes, over the cap of 4 bytes") {
		t.Errorf("ReadRegularMax over the cap = %v; want ErrTooLarge naming the size and the cap", err)
	}
	if got := FormatCap(64 << 20); got != "64 MiB" {
		t.Errorf("FormatCap(64 << 20) = %q, want 64 MiB", got)
	}
}
