package evidence

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/ed25519"
	"fmt"
	"hash/crc32"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyZipRefusesAZipBomb: evidence verify checks a pack's zip an
// auditor was handed, so the zip is anyone's to make. VerifyZip bounded
// each entry it unpacked at 1 GiB, but not their sum: a zip of 2 MiB
// holding, beside a real pack's files, 24 entries of 64 MiB of zeros each
// (deflated to 64 KiB) was unpacked whole, 1.5 GiB written to the
// temporary folder before the check named them as files of no pack, and
// as many more entries as the zip holds fill the auditor's disk. The
// sizes the zip declares (archive/zip refuses an entry whose data is
// longer than its header says) now bound the whole before anything is
// unpacked.
func TestVerifyZipRefusesAZipBomb(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)

	const entry, entries = 64 << 20, 24
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestSpeed)
	zeros := make([]byte, 1<<20)
	for range entry / len(zeros) {
		fw.Write(zeros)
	}
	fw.Close()
	crc := crc32.NewIEEE()
	for range entry / len(zeros) {
		crc.Write(zeros)
	}

	bomb := filepath.Join(out, "bomb.zip")
	f, err := os.Create(bomb)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	zr, err := zip.OpenReader(res.Zip)
	if err != nil {
		t.Fatal(err)
	}
	folder := ""
	for _, e := range zr.File {
		if err := zw.Copy(e); err != nil {
			t.Fatal(err)
		}
		folder = path.Dir(e.Name)
	}
	zr.Close()
	for i := range entries {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: fmt.Sprintf("%s/zeros-%d.csv", folder, i), Method: zip.Deflate,
			CRC32: crc.Sum32(), CompressedSize64: uint64(deflated.Len()), UncompressedSize64: entry})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(deflated.Bytes())
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where VerifyZip unpacks
	problems, err := VerifyZip(bomb, pub)
	if err == nil || !strings.Contains(err.Error(), "unpacks to") {
		t.Fatalf("VerifyZip of a zip unpacking to %d MiB = %d problems (%.200q), %v; want it refused before unpacking", entries*entry>>20, len(problems), problems, err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("VerifyZip left %d entries in the temporary folder", len(ents))
	}
	// the pack itself, zipped as Pack zips it, still verifies
	if problems, err := VerifyZip(res.Zip, pub); err != nil || len(problems) != 0 {
		t.Errorf("VerifyZip of the pack = %q, %v; want intact", problems, err)
	}
}
