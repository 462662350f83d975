package evidence

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestApproveSignsOnlyAVerifiedManifest: evidence approve checks the pack
// (CheckApproval), records the review through etcd, then Approve reads
// manifest.json again and signs it with the reviewer's key. Whoever can
// write to the pack folder (where a link was planted in the same window:
// TestApproveNeverWritesThroughALink) edits an evidence file and its
// SHA-256 in manifest.json meanwhile: Approve signed the edited manifest,
// and the pack verified intact with the forged evidence in it. Approve now
// refuses a manifest its signature does not cover.
func TestApproveSignsOnlyAVerifiedManifest(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)
	name := res.Files[0].File
	if _, err := CheckApproval(res.Dir, name, key); err != nil {
		t.Fatal(err)
	}
	// The window: a forged evidence file, and its digest in manifest.json.
	victim := res.Files[1].File
	forged := []byte("forged evidence\n")
	if err := os.WriteFile(filepath.Join(res.Dir, victim), forged, 0o644); err != nil {
		t.Fatal(err)
	}
	var rows []ManifestRow
	if b, err := os.ReadFile(filepath.Join(res.Dir, ManifestJSON)); err != nil || json.Unmarshal(b, &rows) != nil {
		t.Fatalf("cannot read the manifest: %v", err)
	}
	sum := sha256.Sum256(forged)
	for i := range rows {
		if rows[i].File == victim {
			rows[i].SHA256 = hex.EncodeToString(sum[:])
		}
	}
	j, _ := json.MarshalIndent(rows, "", "  ")
	if err := os.WriteFile(filepath.Join(res.Dir, ManifestJSON), append(j, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Approve(res.Dir, name, StatusApproved, key, nil); err == nil {
		t.Error("Approve signed a manifest.json edited after the check")
	}
	if problems, err := Verify(res.Dir, pub); err == nil && len(problems) == 0 {
		t.Errorf("the pack with the forged %s verifies intact and signed after Approve", victim)
	}
}
