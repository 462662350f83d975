package evidence

import (
	"archive/zip"
	"crypto/ed25519"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyZipWantsOneFolder: a pack's zip holds its files in one folder,
// evidence-<Period>/. VerifyZip unpacked every entry by its base name, so
// a zip whose files were moved to other folders (the checklist under
// other/, the manifest at the top) verified intact, though unzipping it
// gives an auditor a folder evidence-2026-05 that evidence verify finds
// files missing from, and the moved files beside it under names the
// manifest does not sign. Every entry must now be in the one folder of
// the first.
func TestVerifyZipWantsOneFolder(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)
	moved := filepath.Join(out, "moved.zip")
	rezip(t, res.Zip, moved, func(name string) string {
		switch path.Base(name) {
		case "APIGovernance-ISO27017Checklist-2026-05.md":
			return "other/" + path.Base(name)
		case ManifestCSV:
			return path.Base(name)
		}
		return name
	})
	problems, err := VerifyZip(moved, pub)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(problems, "\n")
	if !strings.Contains(got, "other/APIGovernance-ISO27017Checklist-2026-05.md: unexpected entry") ||
		!strings.Contains(got, ManifestCSV+": unexpected entry") {
		t.Errorf("VerifyZip of a zip with entries moved out of its folder = %q; want both named", problems)
	}
}

// rezip copies the zip src to dst, each entry under rename(its name).
func rezip(t *testing.T, src, dst string, rename func(string) string) {
	t.Helper()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, e := range zr.File {
		w, err := zw.Create(rename(e.Name))
		if err != nil {
			t.Fatal(err)
		}
		r, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, r); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}
