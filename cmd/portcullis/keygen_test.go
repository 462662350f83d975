package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// audit keygen wrote the private key, then failed on a FILE.pub left from
// before: the private key stayed without its public key, and the next run
// failed on it. Now an existing FILE or FILE.pub is named and nothing is
// written, and neither is overwritten.
func TestAuditKeygenLeavesNoHalfPair(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "audit-signing.key")
	if err := os.WriteFile(key+".pub", []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := portcullis(t, "", nil, "audit", "keygen", "--out", key)
	if want := "portcullis audit keygen: " + key + ".pub exists"; r.code != 1 || !strings.HasPrefix(r.stderr, want) {
		t.Errorf("audit keygen onto an existing .pub = exit %d, stderr %q; want exit 1 starting %q", r.code, r.stderr, want)
	}
	if _, err := os.Lstat(key); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("audit keygen that failed on %s.pub left %s behind (err %v)", key, key, err)
	}
	if b, _ := os.ReadFile(key + ".pub"); string(b) != "kept\n" {
		t.Errorf("audit keygen changed the existing %s.pub to %q", key, b)
	}
}
