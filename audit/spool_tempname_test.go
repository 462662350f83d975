package audit

import (
	"os"
	"path/filepath"
	"testing"
)

// A batch is written under its temporary name, then renamed: what a crash
// leaves under that name is removed when the spool opens, never listed
// nor counted, and a regular file planted there (a hard link, say) is
// replaced, not written through. The name is durable.TempName's, which
// the spool shares (tempName); a spool that wrote under one name and
// cleaned up another would keep a crash's leftovers for ever.
func TestSpoolTempNameLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	leftover := filepath.Join(dir, tempName(spoolName(1, 1)))
	if err := os.WriteFile(leftover, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if _, err := os.Lstat(leftover); !os.IsNotExist(err) {
		t.Errorf("a crash's leftover %q is still there after open (Lstat: %v)", filepath.Base(leftover), err)
	}
	if files, _, bytes := s.usage(); files != 0 || bytes != 0 {
		t.Errorf("spool lists %d files, %d bytes after open, want none", files, bytes)
	}

	// A hard link planted at the next batch's temporary name: the file it
	// names stays as it was.
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(outside, filepath.Join(dir, tempName(spoolName(2, 1)))); err != nil {
		t.Skip("no hard links here:", err)
	}
	if err := s.put(2, 1, []byte("batch two")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(outside); string(b) != "keep" {
		t.Errorf("the file a planted hard link named holds %q, want %q", b, "keep")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, spoolName(2, 1))); string(b) != "batch two" {
		t.Errorf("batch 2 holds %q, want %q", b, "batch two")
	}
}
