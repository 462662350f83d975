package evidence

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/debpkg"
)

// zipTool returns the path of Debian's zip, installing it when it is
// missing and it can (debpkg).
func zipTool(t *testing.T) string { return debpkg.Path(t, "zip", "zip") }

// TestVerifyZipAcceptsZipRFolderEntry: a pack unzipped and zipped again
// with zip -r holds an entry for its folder ("pack-2026-05/", no
// content), which evidence verify reported as an unexpected entry: a
// false FAILED for an intact pack. The folder's own entry is accepted;
// the pack's files are still checked.
func TestVerifyZipAcceptsZipRFolderEntry(t *testing.T) {
	zipBin := zipTool(t)
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)

	work := t.TempDir()
	folder := filepath.Join(work, "pack-2026-05")
	if err := os.Mkdir(folder, 0o700); err != nil {
		t.Fatal(err)
	}
	unzipFlat(t, res.Zip, folder)
	zipR := func(name string) string {
		t.Helper()
		z := filepath.Join(work, name)
		cmd := exec.Command(zipBin, "-q", "-r", z, "pack-2026-05")
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("zip -r: %v\n%s", err, out)
		}
		return z
	}
	z := zipR("rezipped.zip")
	if !hasEntry(t, z, "pack-2026-05/") {
		t.Fatalf("zip -r wrote no folder entry in %s; the test proves nothing", z)
	}
	problems, err := VerifyZip(z, pub)
	if err != nil || len(problems) != 0 {
		t.Errorf("VerifyZip of the pack zipped again by zip -r = %q, %v; want no problem", problems, err)
	}

	// A file changed before zipping again is still found.
	manifest := filepath.Join(folder, ManifestCSV)
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, append(b, "x\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	problems, err = VerifyZip(zipR("changed.zip"), pub)
	if err != nil || !strings.Contains(strings.Join(problems, "\n"), ManifestCSV) {
		t.Errorf("VerifyZip of a zip -r pack with %s changed = %q, %v; want it named", ManifestCSV, problems, err)
	}
}

// TestVerifyZipFolderEntries: with archive/zip, the pack folder's own
// entry is accepted wherever it stands; a folder entry of another folder,
// of a folder two deep, or one with content is still an unexpected entry.
func TestVerifyZipFolderEntries(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)
	const dir = "evidence-2026-05/"
	for _, c := range []struct {
		name           string
		first, last    []extraEntry
		wantUnexpected string // "" for no problem
	}{
		{name: "folder entry first", first: []extraEntry{{name: dir}}},
		{name: "folder entry last", last: []extraEntry{{name: dir}}},
		{name: "another folder", first: []extraEntry{{name: dir}}, last: []extraEntry{{name: "other/"}}, wantUnexpected: "other/"},
		{name: "folder two deep", last: []extraEntry{{name: dir + "sub/"}}, wantUnexpected: dir + "sub/"},
		{name: "folder entry with content", last: []extraEntry{{name: dir, data: "hello"}}, wantUnexpected: dir},
		{name: "top folder entry", last: []extraEntry{{name: "/"}}, wantUnexpected: "/"},
	} {
		z := filepath.Join(t.TempDir(), "evidence-2026-05.zip")
		withEntries(t, res.Zip, z, c.first, c.last)
		problems, err := VerifyZip(z, pub)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := strings.Join(problems, "\n")
		switch {
		case c.wantUnexpected == "" && len(problems) != 0:
			t.Errorf("%s: VerifyZip = %q; want no problem", c.name, problems)
		case c.wantUnexpected != "" && !strings.Contains(got, c.wantUnexpected+": unexpected entry"):
			t.Errorf("%s: VerifyZip = %q; want %s named an unexpected entry", c.name, problems, c.wantUnexpected)
		}
	}
}

type extraEntry struct{ name, data string }

// withEntries copies the zip src to dst with the entries first before
// and last after its own. archive/zip writes no content for a name ending
// in '/', so an entry with data is written under the name with '#' for
// its last '/' and the name patched in the written bytes.
func withEntries(t *testing.T, src, dst string, first, last []extraEntry) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var patch []string
	add := func(es []extraEntry) {
		for _, e := range es {
			name := e.name
			if e.data != "" {
				name = strings.TrimSuffix(name, "/") + "#"
				patch = append(patch, name, e.name)
			}
			h := &zip.FileHeader{Name: name, Method: zip.Store, CRC32: crc32.ChecksumIEEE([]byte(e.data)),
				CompressedSize64: uint64(len(e.data)), UncompressedSize64: uint64(len(e.data))}
			h.SetMode(os.ModeDir | 0o755)
			w, err := zw.CreateRaw(h)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte(e.data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(first)
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, e := range zr.File {
		if err := zw.Copy(e); err != nil {
			t.Fatal(err)
		}
	}
	add(last)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for i := 0; i < len(patch); i += 2 {
		b = bytes.ReplaceAll(b, []byte(patch[i]), []byte(patch[i+1]))
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// unzipFlat writes the files of the zip src into dir by their base names.
func unzipFlat(t *testing.T, src, dir string) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, e := range zr.File {
		if err := unzipOne(e, filepath.Join(dir, filepath.Base(e.Name))); err != nil {
			t.Fatal(err)
		}
	}
}

func hasEntry(t *testing.T, z, name string) bool {
	t.Helper()
	zr, err := zip.OpenReader(z)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, e := range zr.File {
		if e.Name == name {
			return true
		}
	}
	return false
}
