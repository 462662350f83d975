package evidence

import (
	"os"
	"path/filepath"
	"testing"
)

// TestApproveNeverWritesThroughALink plants links under the names of the
// manifest's CSV and signature after the pack was checked (the race
// between CheckApproval and Approve; a linked manifest.json is refused
// when read): Approve never writes through them into the files they point
// at. It checks the pack again and refuses it (a link is not a pack file);
// a link planted after that check is replaced by the rename of the new
// file (replaceFile).
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
	if _, err := Approve(res.Dir, name, StatusApproved, key, nil); err == nil {
		t.Error("Approve of a pack whose manifest files are links: no error")
	}
	for m, victim := range victims {
		if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
			t.Errorf("Approve wrote %s through a link into %s: %.40q", m, victim, b)
		}
	}
	// A link planted between Approve's check and its write.
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(res.Dir, ManifestCSV)
	os.Remove(path)
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	if err := replaceFile(res.Dir, ManifestCSV, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
		t.Errorf("replaceFile wrote through a link into %s: %.40q", victim, b)
	}
	if st, err := os.Lstat(path); err != nil || !st.Mode().IsRegular() {
		t.Errorf("%s after replaceFile: %v, %v; want a regular file", ManifestCSV, st.Mode(), err)
	}
}
