package evidence

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyActsOnNoRowOfAnUnsignedManifest: evidence verify checks a
// pack an auditor was handed, whose manifest.json is anyone's to write
// until its signature verifies. Verify decoded the manifest and hashed
// every file its rows named before it checked the signature, and went on
// after it failed: a forged manifest's rows named files outside the pack
// ("../x", hashed where they lay, and one matching its row passed), each
// hashed once a row, so rows naming a large file outside made verify
// read it again and again, and a manifest of "{}," repeated decoded to
// rows of 160 bytes each for 3 of its own (a few hundred MiB
// of it, tens of GiB of memory). The signature is now checked first and
// nothing of a manifest it does not cover is acted on; a row of a
// signed manifest naming anything but a file of the folder is a problem.
func TestVerifyActsOnNoRowOfAnUnsignedManifest(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)

	outside := filepath.Join(out, "outside.bin")
	secret := []byte("a file beside the pack, not of it")
	if err := os.WriteFile(outside, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(secret)
	rows := []ManifestRow{{File: "../outside.bin", SHA256: hex.EncodeToString(sum[:]), Period: "2026-05"}}
	for range 10000 {
		rows = append(rows, ManifestRow{File: "../outside.bin", Period: "2026-05"})
	}
	j, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(res.Dir, ManifestJSON), j, 0o644); err != nil {
		t.Fatal(err)
	}
	problems, err := Verify(res.Dir, pub)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) == 0 || !strings.Contains(problems[0], "does not verify") {
		t.Fatalf("problems of a forged manifest = %.300q; want the signature's first", problems)
	}
	if len(problems) > 3 {
		t.Errorf("Verify acted on the %d rows of a manifest whose signature does not verify: %d problems, the first %q", len(rows), len(problems), problems[:4])
	}
}
