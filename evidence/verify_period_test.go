package evidence

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A signed pack of one period, renamed as another period's, is not that
// period's evidence: verify must say so. Before, the pack of May renamed
// evidence-2026-06 (folder or zip) verified "intact and signed", and
// nothing in the answer named the period the signed manifest covers.
func TestVerifyFindsAPackRenamedToAnotherPeriod(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)

	for _, path := range []string{res.Dir, res.Zip} {
		if got, err := Covered(path); err != nil || !strings.HasPrefix(got, "2026-05 (ROLLBACK NOT CHECKED") {
			t.Errorf("Covered(%s) = %q, %v; want 2026-05 (ROLLBACK NOT CHECKED...)", filepath.Base(path), got, err)
		}
	}
	june := filepath.Join(out, "evidence-2026-06")
	if err := os.Rename(res.Dir, june); err != nil {
		t.Fatal(err)
	}
	problems, err := Verify(june, pub)
	if err != nil || !strings.Contains(strings.Join(problems, "\n"), "covers period 2026-05") {
		t.Errorf("Verify of May's pack named evidence-2026-06 = %q, %v; want the period named", problems, err)
	}
	juneZip := june + ".zip"
	if err := os.Rename(res.Zip, juneZip); err != nil {
		t.Fatal(err)
	}
	problems, err = VerifyZip(juneZip, pub)
	if err != nil || !strings.Contains(strings.Join(problems, "\n"), "covers period 2026-05") {
		t.Errorf("VerifyZip of May's pack named evidence-2026-06.zip = %q, %v; want the period named", problems, err)
	}
	// Under its own name, and under a name that claims no period, it
	// verifies.
	if err := os.Rename(june, res.Dir); err != nil {
		t.Fatal(err)
	}
	if problems, err := Verify(res.Dir, pub); err != nil || len(problems) != 0 {
		t.Errorf("Verify of the pack under its name = %q, %v", problems, err)
	}
	other := filepath.Join(out, "audit-upload.zip")
	if err := os.Rename(juneZip, other); err != nil {
		t.Fatal(err)
	}
	if problems, err := VerifyZip(other, pub); err != nil || len(problems) != 0 {
		t.Errorf("VerifyZip of the pack as %s = %q, %v", filepath.Base(other), problems, err)
	}
}
