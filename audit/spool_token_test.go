//go:build linux

package audit

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// TestFileTokenIsXXHash: a spooled file's replay token is the xxhash of
// its name, device, inode and change time (8 bytes each, little-endian),
// never 0, and the same at every read of the file: the module's hash,
// not an FNV-1a written by hand.
func TestFileTokenIsXXHash(t *testing.T) {
	t.Parallel()
	name := "00000000000000000007-00050.otlp"
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte("batch"), 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	b := []byte(name)
	for _, v := range []uint64{st.Dev, st.Ino, uint64(st.Ctim.Sec), uint64(st.Ctim.Nsec)} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	want := xxhash.Sum64(b) | 1
	if got := fileToken(name, info); got != want {
		t.Errorf("fileToken = %016x, want the xxhash %016x", got, want)
	}
	again, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fileToken(name, again) != fileToken(name, info) {
		t.Error("the token changed between two reads of the same file")
	}
}
