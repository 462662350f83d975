package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestShipCopyIsTheBinaryInTheRunDirectory checks that the run starts a
// copy, in its own directory, of the same bytes and executable: a binary
// the linker has just written maps more of its pages at each fault than
// one written with ordinary writes, as an image is unpacked (shipCopy).
func TestShipCopyIsTheBinaryInTheRunDirectory(t *testing.T) {
	src := filepath.Join(t.TempDir(), "portcullis")
	want := bytes.Repeat([]byte("portcullis\x00"), 300_000) // past one buffer
	if err := os.WriteFile(src, want, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	got, err := shipCopy(src, dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(got) != dir || got == src {
		t.Fatalf("copy at %s, want a new file in %s", got, dir)
	}
	b, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("copy holds %d bytes, not the %d of the binary", len(b), len(want))
	}
	if fi, err := os.Stat(got); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("copy not executable: %v %v", fi.Mode(), err)
	}
	if _, err := shipCopy(filepath.Join(dir, "missing"), dir); err == nil {
		t.Fatal("copying a missing binary did not fail")
	}
}
