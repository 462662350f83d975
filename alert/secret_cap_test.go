package alert

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A sink's secret named `file:PATH` is read up to 1 MiB: a path naming a
// log or an image was read whole into memory.
func TestSinkSecretFileIsCapped(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ResolveSecret("file:" + p); err != nil || string(b) != "tok" {
		t.Fatalf("ResolveSecret = %q, %v; want the secret", b, err)
	}
	if err := os.Truncate(p, 1<<20+1); err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveSecret("file:" + p); err == nil || !strings.Contains(err.Error(), "over the cap of 1 MiB") {
		t.Errorf("ResolveSecret of a file over 1 MiB: %v, want it refused naming the cap", err)
	}
}
