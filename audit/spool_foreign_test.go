//go:build linux

package audit

import (
	"os"
	"path/filepath"
	"testing"
)

// A file another user planted in the spool under a batch's name, up to
// --spool-max in size (sparse: no blocks), counted as spooled bytes until
// the replay reached and dropped it: the spool looked full, and every
// batch meanwhile was dropped (best effort) or held, the data plane
// answering 503 (strict). Such a file, which is never sent
// (TestSpoolBatchOfAnotherUserNotSent), now takes no room.
func TestSpoolFileOfAnotherUserTakesNoRoom(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to plant a file owned by another user")
	}
	dir := t.TempDir()
	planted := filepath.Join(dir, "00000000000000000099-1.otlp")
	f, err := os.Create(planted)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chown(planted, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, _, bytes := s.usage(); bytes != 0 {
		t.Errorf("spool holds %d bytes with only another user's file in it, want 0", bytes)
	}
	if err := s.put(100, 1, make([]byte, 1000)); err != nil {
		t.Errorf("put into a spool holding only another user's file: %v; want it stored", err)
	}
}
