package evidence

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestApproveAfterAnInterruptedApprove stages a re-signed manifest as
// Approve does and never renames it, as when the process is killed
// between the two: Verify names the three staged files as left by an
// interrupted evidence approve (and still fails: the folder is not the
// pack), not as files added to the pack, and the next Approve removes
// them under the lock, completes, and leaves a pack that verifies. Before,
// Verify called them added and Approve refused the pack until they were
// removed by hand.
func TestApproveAfterAnInterruptedApprove(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)
	name := res.Files[0].File

	rows, _, err := approvedRows(res.Dir, name, StatusApproved, key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := stageManifest(res.Dir, rows, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.tmps) != 3 {
		t.Fatalf("staged %d files, want 3", len(st.tmps))
	}
	for _, tmp := range st.tmps {
		if !isStagedManifest(filepath.Base(tmp)) {
			t.Fatalf("staged file %s is not of the pattern isStagedManifest knows", filepath.Base(tmp))
		}
	}
	// Killed here: st.commit never runs.

	problems, err := Verify(res.Dir, pub)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "left by an interrupted evidence approve; run evidence approve again or remove them") {
		t.Fatalf("Verify of a pack with an interrupted approve's files = %q, want one problem naming them as left by an interrupted evidence approve", problems)
	}
	for _, tmp := range st.tmps {
		if !strings.Contains(problems[0], filepath.Base(tmp)) {
			t.Errorf("Verify's problem %q does not name %s", problems[0], filepath.Base(tmp))
		}
	}

	if _, err := Approve(res.Dir, name, StatusApproved, key, nil); err != nil {
		t.Fatalf("Approve after an interrupted approve: %v", err)
	}
	noStaged(t, res.Dir, pub)
	got, err := CheckApproval(res.Dir, name, key)
	if err != nil || got.ReviewStatus != StatusApproved {
		t.Errorf("after Approve, %s is %q (%v), want %s", name, got.ReviewStatus, err, StatusApproved)
	}
}

// TestApproveLeavesAPlantedLinkOfItsPattern: a link under a name of
// Approve's staging pattern is not a file Approve staged (it never makes
// links): Approve refuses the pack as Verify reports it (added), neither
// removes the link nor touches the file it points at.
func TestApproveLeavesAPlantedLinkOfItsPattern(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	name := res.Files[0].File
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(res.Dir, "."+ManifestJSON+".123456")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	_, err := Approve(res.Dir, name, StatusApproved, key, nil)
	if err == nil || !strings.Contains(err.Error(), "added") {
		t.Errorf("Approve of a pack with a link planted under a staging name = %v, want it refused as added", err)
	}
	if _, err := os.Lstat(link); err != nil {
		t.Errorf("the planted link was removed: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
		t.Errorf("the file the link points at changed: %q", b)
	}
}

// TestIsStagedManifest: only the dot, a manifest file's name, a dot and
// digits is a staged manifest; a pack's other files and look-alikes are
// not.
func TestIsStagedManifest(t *testing.T) {
	yes := []string{".manifest.csv.1", ".manifest.json.4294967295", ".manifest.json.sig.0"}
	no := []string{"manifest.csv", ".manifest.csv.", ".manifest.csv.12a", ".manifest.json.sig", ".manifest.json.sig.x1", ".index.html.123", ".manifest.txt.1", "x.manifest.csv.1"}
	for _, n := range yes {
		if !isStagedManifest(n) {
			t.Errorf("isStagedManifest(%q) = false, want true", n)
		}
	}
	for _, n := range no {
		if isStagedManifest(n) {
			t.Errorf("isStagedManifest(%q) = true, want false", n)
		}
	}
}
