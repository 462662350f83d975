package evidence

import (
	"archive/zip"
	"crypto/ed25519"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestZipHoldsOnlyThePacksFiles: the pack folder already holds a file (an
// earlier run, a note someone left, a symlink) when Pack runs. The zip was
// built from every file of the folder while the credential scan read only
// the files this run wrote: the zip carried an API key under a scan that
// said PASS (an outside review). Now the zip holds the pack's files alone,
// and the others are named in a warning.
func TestZipHoldsOnlyThePacksFiles(t *testing.T) {
	const leaked = "pk_acmehris1_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
	cfg, key, dir := packFolder(t)
	p := cfg.Period
	// left over in the folder: a file of notes, and a link to a secret elsewhere
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("key for the auditor: "+leaked+"\n"), 0o644)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(leaked), 0o600)
	os.Symlink(secret, filepath.Join(dir, "linked.txt"))
	res, err := Pack(cfg)
	if err != nil {
		t.Fatal(err)
	}
	scan, _ := os.ReadFile(filepath.Join(res.Dir, FileName("APILogging", "CredentialScan", p.Name, "md")))
	zr, err := zip.OpenReader(res.Zip)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var holding []string
	for _, f := range zr.File {
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		if strings.Contains(string(b), leaked) {
			holding = append(holding, f.Name)
		}
	}
	if len(holding) > 0 && strings.Contains(string(scan), "Result: PASS") {
		t.Fatalf("the zip %s carries the API key in %v, and the credential scan says PASS", filepath.Base(res.Zip), holding)
	}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "notes.txt") || strings.HasSuffix(f.Name, "linked.txt") {
			t.Errorf("the zip holds %s, which is not part of the pack", f.Name)
		}
	}
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, "linked.txt, notes.txt") {
		t.Errorf("no warning names the foreign files: %q", w)
	}
	if problems, err := VerifyZip(res.Zip, key.Public().(ed25519.PublicKey)); err != nil || len(problems) > 0 {
		t.Errorf("the zip does not verify: %v %v", problems, err)
	}
}

// TestPackNeverWritesThroughALink: a link planted under a pack file's name
// in the folder made os.WriteFile write the file where it points, out of
// the folder. Pack now refuses, and the target is untouched.
func TestPackNeverWritesThroughALink(t *testing.T) {
	cfg, _, dir := packFolder(t)
	target := filepath.Join(t.TempDir(), "elsewhere")
	os.WriteFile(target, []byte("untouched"), 0o600)
	os.Symlink(target, filepath.Join(dir, IndexFile))
	if _, err := Pack(cfg); err == nil || !strings.Contains(err.Error(), "link") {
		t.Fatalf("Pack over a planted link: %v; want a refusal naming the link", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "untouched" {
		t.Fatalf("the link's target was written: %q", b)
	}
}

// TestPackNeverWritesThroughALinkedFolder: the pack's folder itself is a
// link planted in the output directory before the pack is made, to a
// folder elsewhere. os.MkdirAll accepted the link as the folder and every
// file of the pack was written where it points, out of the output
// directory (an outside review). Pack now refuses, and writes nothing
// there.
func TestPackNeverWritesThroughALinkedFolder(t *testing.T) {
	cfg, _, dir := packFolder(t)
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Pack(cfg); err == nil || !strings.Contains(err.Error(), "link") {
		t.Errorf("Pack into a linked folder: %v; want a refusal naming the link", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) > 0 {
		t.Fatalf("the pack was written through the link into %s: %d files, the first %s", elsewhere, len(ents), ents[0].Name())
	}
}

// packFolder is a store of one record, the example policy's history and
// the pack folder of 2026-Q2, made before Pack runs; the Config packs it.
func packFolder(t *testing.T) (Config, ed25519.PrivateKey, string) {
	t.Helper()
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	r := collector.StoredRecord{Time: time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC), Tenant: "acme", Client: "acme-hris", Method: "GET",
		Route: "/v1/users", Path: "/v1/users", Status: 200, Decision: "allowed", RequestID: "r-1", SourceIP: "192.0.2.7"}
	if err := st.AppendBatch(&collector.Batch{ID: "b1", Sender: "token:s1", Records: []collector.StoredRecord{r}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-Q2")
	dir := filepath.Join(out, "evidence-"+p.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key}, key, dir
}

// TestPackRefusesAPlantedFIFO: a named pipe planted under a pack file's
// name before the pack is made. Opening it to write waited for a reader
// that never came: evidence pack hung for good. Pack now refuses it at
// once, naming it.
func TestPackRefusesAPlantedFIFO(t *testing.T) {
	cfg, _, dir := packFolder(t)
	fifo := filepath.Join(dir, IndexFile)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := Pack(cfg); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), IndexFile) {
			t.Errorf("Pack over a planted FIFO: %v; want a refusal naming it", err)
		}
	case <-time.After(time.Minute):
		// A reader lets the blocked open return, so the test ends.
		if f, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			defer f.Close()
		}
		t.Fatalf("Pack still waits on the FIFO %s after a minute", fifo)
	}
}
