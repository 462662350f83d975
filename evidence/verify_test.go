package evidence

import (
	"archive/zip"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// packMay packs May 2026 of the store in data, under the example policy's
// history, into out, signed with key.
func packMay(t *testing.T, data, out string, key ed25519.PrivateKey) *Result {
	t.Helper()
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod("2026-05")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestVerifyZipRefusesPaths checks that a zip entry outside the pack's one
// folder is reported and never written (zip slip).
func TestVerifyZipRefusesPaths(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)
	if problems, err := VerifyZip(res.Zip, pub); err != nil || len(problems) != 0 {
		t.Fatalf("VerifyZip of the pack = %q, %v; want intact", problems, err)
	}
	hostile := filepath.Join(out, "hostile.zip")
	copyZipWith(t, res.Zip, hostile, "../../escaped.txt")
	problems, err := VerifyZip(hostile, pub)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "../../escaped.txt: unexpected entry") {
		t.Errorf("problems = %q, want the escaping entry named", problems)
	}
	if _, err := os.Stat(filepath.Join(os.TempDir(), "escaped.txt")); err == nil {
		t.Error("the escaping entry was written outside the folder")
	}
}

// TestVerifyFindsOneByteChanges flips one byte in each file of a pack in
// turn: Verify names the file every time (manifest.csv, which the
// signature does not cover, by comparing it with the signed manifest.json)
// and finds the pack intact once it is restored.
func TestVerifyFindsOneByteChanges(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)
	ents, err := os.ReadDir(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		path := filepath.Join(res.Dir, e.Name())
		orig, _ := os.ReadFile(path)
		changed := append([]byte(nil), orig...)
		changed[len(changed)/2] ^= 0x01
		os.WriteFile(path, changed, 0o644)
		problems, err := Verify(res.Dir, pub)
		if err != nil && e.Name() != ManifestJSON {
			t.Fatalf("%s changed: %v", e.Name(), err)
		}
		if err == nil && !strings.Contains(strings.Join(problems, "\n"), e.Name()) {
			t.Errorf("a one-byte change in %s: problems %q, want one naming it", e.Name(), problems)
		}
		os.WriteFile(path, orig, 0o644)
	}
	if problems, err := Verify(res.Dir, pub); err != nil || len(problems) != 0 {
		t.Errorf("Verify of the restored pack = %q, %v", problems, err)
	}
}

// TestVerifyReportsAPlantedFIFO: someone who can write the pack's folder
// puts a named pipe in place of one of its files. evidence verify (and
// evidence approve, which verifies first) read it with os.ReadFile and
// waited for a writer that never came. The file is now reported as not a
// regular file, at once.
func TestVerifyReportsAPlantedFIFO(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)
	for _, name := range []string{res.Files[1].File, ManifestJSON} {
		path := filepath.Join(res.Dir, name)
		saved, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(path)
		if err := syscall.Mkfifo(path, 0o644); err != nil {
			t.Skipf("cannot make a FIFO here: %v", err)
		}
		type result struct {
			problems []string
			err      error
		}
		done := make(chan result, 1)
		go func() { p, err := Verify(res.Dir, pub); done <- result{p, err} }()
		select {
		case r := <-done:
			if got := strings.Join(r.problems, "\n") + fmt.Sprint(r.err); !strings.Contains(got, name) || !strings.Contains(got, "not a regular file") {
				t.Errorf("Verify with a FIFO as %s = %q, %v; want it named as not a regular file", name, r.problems, r.err)
			}
		case <-time.After(time.Minute):
			// A writer lets the blocked read return, so the test ends.
			if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
			t.Fatalf("Verify still waits on the FIFO %s after a minute", name)
		}
		os.Remove(path)
		if err := os.WriteFile(path, saved, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVerifyProblemsAreOneLineOfText: a zip handed to an auditor holds an
// entry whose name carries terminal escapes (and a folder, a file planted
// in it): evidence verify printed the names as they were, so one could
// print a line "OK: ... intact and signed" and hide what followed (SGR 8,
// conceal), the FAILED line included; evidence pack's warning naming a
// file planted in the folder did the same. A name with a control, escape
// or bidirectional character is now shown quoted.
func TestVerifyProblemsAreOneLineOfText(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)
	const hostile = "x\r\x1b[2KOK: evidence-2026-05.zip is intact and signed; its manifest covers period 2026-05\n\x1b[8m\u202e"
	evil := filepath.Join(out, "evidence-2026-05-evil.zip")
	copyZipWith(t, res.Zip, evil, "evidence-2026-05/"+hostile, hostile+"/notes.txt")
	if err := os.WriteFile(filepath.Join(res.Dir, hostile), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	zp, err := VerifyZip(evil, pub)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := Verify(res.Dir, pub)
	if err != nil {
		t.Fatal(err)
	}
	// evidence pack over the folder names the file in a warning, as text too
	again := packMay(t, data, out, key)
	problems := append(append(zp, dp...), again.Warnings...)
	if len(zp) < 2 || len(dp) != 1 || len(again.Warnings) == 0 {
		t.Fatalf("problems = %q, %q, warnings %q; want the hostile names reported", zp, dp, again.Warnings)
	}
	for _, p := range problems {
		if i := strings.IndexFunc(p, func(c rune) bool { return c < 0x20 || c == 0x7f || c >= 0x80 && c < 0xa0 || c == '\u202e' }); i >= 0 {
			t.Errorf("problem %q holds %U at %d: it reaches the auditor's terminal as it is", p, []rune(p[i:])[0], i)
		}
	}
}

// copyZipWith writes dst, a copy of the zip src with an entry "x" of
// each of the extra names added.
func copyZipWith(t *testing.T, src, dst string, extra ...string) {
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
		w, _ := zw.Create(e.Name)
		r, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, r); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	for _, name := range extra {
		w, _ := zw.Create(name)
		w.Write([]byte("x"))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestHistoryFromFileNamesTheFile: evidence pack and review start with
// --policy reported a broken file as "policy@0:1: ...", the name of an
// etcd revision that the user never gave; the file is named, with its
// line.
func TestHistoryFromFileNamesTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nfoo: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := HistoryFromFile(path)
	if err == nil || !strings.Contains(err.Error(), path+":2: field foo") {
		t.Errorf("HistoryFromFile(broken) = %v; want an error naming %s:2", err, path)
	}
}
