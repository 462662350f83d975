package dataplane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An HMAC secret named `file:PATH` is read up to 1 MiB: a path naming a
// log or an image was read whole into memory.
func TestSecretFileIsCapped(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := resolveSecret("file:" + p); err != nil || string(b) != "s3cret" {
		t.Fatalf("resolveSecret = %q, %v; want the secret", b, err)
	}
	if err := os.Truncate(p, 1<<20+1); err != nil {
		t.Fatal(err)
	}
	if _, err := resolveSecret("file:" + p); err == nil || !strings.Contains(err.Error(), "over the cap of 1 MiB") {
		t.Errorf("resolveSecret of a file over 1 MiB: %v, want it refused naming the cap", err)
	}
}
