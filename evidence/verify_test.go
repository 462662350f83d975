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
	f, err := os.Create(hostile)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	src, _ := zip.OpenReader(res.Zip)
	for _, e := range src.File {
		w, _ := zw.Create(e.Name)
		r, _ := e.Open()
		if _, err := io.Copy(w, r); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	src.Close()
	w, _ := zw.Create("../../escaped.txt")
	w.Write([]byte("x"))
	zw.Close()
	f.Close()
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
