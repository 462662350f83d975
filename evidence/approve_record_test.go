package evidence

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// manifestBytes reads the manifest's three files of the pack in dir.
func manifestBytes(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, n := range []string{ManifestCSV, ManifestJSON, ManifestSig} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		m[n] = b
	}
	return m
}

// noStaged fails t when the pack folder dir holds a file Approve staged
// (a dot-file) or anything the manifest does not list.
func noStaged(t *testing.T, dir string, pub ed25519.PublicKey) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("staged file %s left in the pack", e.Name())
		}
	}
	if problems, err := Verify(dir, pub); err != nil || len(problems) > 0 {
		t.Errorf("the pack does not verify: %v %v", problems, err)
	}
}

// TestApproveRecordsOnlyAStagedManifest: Approve calls record once the new
// manifest is staged under the pack's lock, with the row as it verified
// there; when record fails, the manifest is unchanged and nothing staged
// remains, and when it succeeds, the manifest is re-signed.
func TestApproveRecordsOnlyAStagedManifest(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)
	name := res.Files[0].File
	before := manifestBytes(t, res.Dir)

	var seen []ManifestRow
	failed := errors.New("etcd said no")
	record := func(r ManifestRow) (int64, error) {
		seen = append(seen, r)
		entries, _ := os.ReadDir(res.Dir)
		staged := 0
		for _, e := range entries {
			staged += strings.Count(e.Name()[:1], ".")
		}
		if staged != 3 {
			t.Errorf("record called with %d files staged in the pack, want 3 (manifest.csv, manifest.json, its signature)", staged)
		}
		return 0, failed
	}
	if rev, err := Approve(res.Dir, name, StatusApproved, key, record); !errors.Is(err, failed) || rev != 0 {
		t.Errorf("Approve with a failing record = %d, %v; want 0, its error", rev, err)
	}
	for n, b := range manifestBytes(t, res.Dir) {
		if !bytes.Equal(b, before[n]) {
			t.Errorf("%s changed though the approval was not recorded", n)
		}
	}
	noStaged(t, res.Dir, pub)
	if len(seen) != 1 || seen[0].File != name || seen[0].SHA256 != res.Files[0].SHA256 || seen[0].ReviewStatus != StatusUploaded {
		t.Errorf("record got %+v, want the verified row of %s", seen, name)
	}

	rev, err := Approve(res.Dir, name, StatusApproved, key, func(ManifestRow) (int64, error) { return 42, nil })
	if err != nil || rev != 42 {
		t.Fatalf("Approve = %d, %v; want 42, nil", rev, err)
	}
	if bytes.Equal(manifestBytes(t, res.Dir)[ManifestSig], before[ManifestSig]) {
		t.Error("the manifest was not re-signed after the approval was recorded")
	}
	noStaged(t, res.Dir, pub)
	if problems, err := VerifyZip(res.Zip, pub); err != nil || len(problems) > 0 {
		t.Errorf("the zip does not verify after Approve: %v %v", problems, err)
	}
}

// TestApproveSaysARecordedApprovalWasNotSigned: a rename that fails after
// the approval was recorded (here, the signature's name taken by a folder
// meanwhile) returns the revision with an error saying the manifest was
// not re-signed, and the files already renamed get their old contents
// back, so the same approval can be run again.
func TestApproveSaysARecordedApprovalWasNotSigned(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	name := res.Files[0].File
	before := manifestBytes(t, res.Dir)
	sig := filepath.Join(res.Dir, ManifestSig)
	rev, err := Approve(res.Dir, name, StatusApproved, key, func(ManifestRow) (int64, error) {
		if err := os.Remove(sig); err != nil {
			return 0, err
		}
		return 7, os.Mkdir(sig, 0o755)
	})
	if rev != 7 || err == nil || !strings.Contains(err.Error(), "was not re-signed") || errors.Is(err, ErrManifestTorn) {
		t.Errorf("Approve whose rename failed = %d, %v; want 7 and an error saying the manifest was not re-signed", rev, err)
	}
	for _, n := range []string{ManifestCSV, ManifestJSON} {
		if got, _ := os.ReadFile(filepath.Join(res.Dir, n)); !bytes.Equal(got, before[n]) {
			t.Errorf("%s was not put back after the signature's rename failed", n)
		}
	}
	entries, _ := os.ReadDir(res.Dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("staged file %s left in the pack", e.Name())
		}
	}
}
