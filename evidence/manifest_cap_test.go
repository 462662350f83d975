package evidence

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyRefusesAnOversizedManifest: a pack folder's manifest.json is
// anyone's to write until its signature verifies, and Verify read it up
// to 1 GiB into memory before checking it. A real manifest is about 7 KB
// (one row per file of the pack); one past maxManifest is refused
// unread, with an error naming the file and the cap.
func TestVerifyRefusesAnOversizedManifest(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)
	real, err := os.ReadFile(filepath.Join(res.Dir, ManifestJSON))
	if err != nil {
		t.Fatal(err)
	}
	if len(real) > 64<<10 {
		t.Fatalf("a real manifest.json is %d bytes; the cap's headroom assumes a few KB", len(real))
	}
	big := append(bytes.Repeat([]byte(" "), 16<<20), real...) // valid JSON, 16 MiB of spaces ahead of it
	if err := os.WriteFile(filepath.Join(res.Dir, ManifestJSON), big, 0o600); err != nil {
		t.Fatal(err)
	}
	problems, err := Verify(res.Dir, pub)
	if err == nil || !strings.Contains(err.Error(), ManifestJSON) || !strings.Contains(err.Error(), "16 MiB") {
		t.Fatalf("Verify of a pack whose manifest.json is %d MiB = %q, %v; want it refused unread, naming the file and the 16 MiB cap", len(big)>>20, problems, err)
	}
	if _, err := Covered(res.Dir); err == nil || !strings.Contains(err.Error(), "16 MiB") {
		t.Fatalf("Covered of that pack: %v; want the cap's error", err)
	}
}
