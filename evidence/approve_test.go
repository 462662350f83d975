package evidence

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
)

// TestApproveNeverWritesThroughALink plants links under the names of the
// manifest's CSV and signature after the pack was checked (the race
// between CheckApproval and Approve; a linked manifest.json is refused
// when read): Approve replaces each link with the new file and never
// writes through it into the file it points at.
func TestApproveNeverWritesThroughALink(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	name := res.Files[0].File
	if _, err := CheckApproval(res.Dir, name, key); err != nil {
		t.Fatal(err)
	}
	victims := map[string]string{}
	for _, m := range []string{ManifestCSV, ManifestSig} {
		victim := filepath.Join(t.TempDir(), "victim")
		if err := os.WriteFile(victim, []byte("keep me\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(res.Dir, m)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, path); err != nil {
			t.Fatal(err)
		}
		victims[m] = victim
	}
	err := Approve(res.Dir, name, StatusApproved, key)
	for m, victim := range victims {
		if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
			t.Errorf("Approve wrote %s through a link into %s: %.40q", m, victim, b)
		}
		if st, err := os.Lstat(filepath.Join(res.Dir, m)); err != nil || !st.Mode().IsRegular() {
			t.Errorf("%s after Approve: %v, %v; want a regular file", m, st.Mode(), err)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := Verify(res.Dir, key.Public().(ed25519.PublicKey)); err != nil || len(problems) > 0 {
		t.Fatalf("the approved pack does not verify: %v %v", err, problems)
	}
	row, err := CheckApproval(res.Dir, name, key)
	if err != nil || row.ReviewStatus != StatusApproved {
		t.Fatalf("row after Approve: %+v, %v", row, err)
	}
}
