//go:build unix

package durable

import (
	"os"
	"path/filepath"
	"testing"
)

func TestUnlinked(t *testing.T) {
	dir := t.TempDir()
	open := func(name string) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	live := open("live")
	if Unlinked(live) {
		t.Error("a file with its name: Unlinked true")
	}
	gone := open("gone")
	if err := os.Remove(gone.Name()); err != nil {
		t.Fatal(err)
	}
	if !Unlinked(gone) {
		t.Error("a file deleted while open: Unlinked false")
	}
	replaced := open("replaced")
	if err := os.Remove(replaced.Name()); err != nil {
		t.Fatal(err)
	}
	open("replaced") // another file at its path
	if !Unlinked(replaced) {
		t.Error("a file deleted while open, another made at its path: Unlinked false")
	}
}
