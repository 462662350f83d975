package evidence

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestVerifyNeverSeesAHalfApprovedPack: Approve rewrites the manifest's
// three files (manifest.csv, manifest.json and its signature) and the zip.
// Each file was renamed into place on its own, so an evidence verify of
// the folder (or of the zip) running meanwhile read the new manifest.json
// with the old signature, or a CSV that differed from it, or the new
// files' temporary names, and called an intact pack tampered. Verify
// runs here in a loop while Approve flips a file's status: every verify
// finds the pack intact.
func TestVerifyNeverSeesAHalfApprovedPack(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	res := packMay(t, data, out, key)
	pub := key.Public().(ed25519.PublicKey)
	name := res.Files[0].File
	var done atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var torn []string
	var verifies atomic.Int64
	check := func(what string, verify func() ([]string, error)) {
		defer wg.Done()
		for !done.Load() {
			problems, err := verify()
			verifies.Add(1)
			if err != nil || len(problems) > 0 {
				mu.Lock()
				torn = append(torn, what+": "+strings.Join(problems, "; ")+errText(err))
				mu.Unlock()
				return
			}
		}
	}
	wg.Add(2)
	go check("folder", func() ([]string, error) { return Verify(res.Dir, pub) })
	go check("zip", func() ([]string, error) { return VerifyZip(res.Zip, pub) })
	// Approve until both verifiers have run a good number of times, or
	// one of them saw a torn pack.
	status := []string{StatusApproved, StatusRejected}
	for i := 0; verifies.Load() < 60 || i < 20; i++ {
		if _, err := Approve(res.Dir, name, status[i%2], key, nil); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		n := len(torn)
		mu.Unlock()
		if n > 0 {
			break
		}
	}
	done.Store(true)
	wg.Wait()
	for _, s := range torn {
		t.Errorf("a verify racing Approve found the pack torn: %s", s)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

// TestVerifyOfAFIFOReturnsAtOnce: the pack's lock is taken on the folder
// named; a named pipe given (or planted) as the folder must be refused,
// not waited on for a writer that never comes.
func TestVerifyOfAFIFOReturnsAtOnce(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "evidence-2026-05")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	key := newKey(t)
	done := make(chan error, 2)
	go func() { _, err := Verify(fifo, key.Public().(ed25519.PublicKey)); done <- err }()
	go func() { _, err := Approve(fifo, "x.csv", StatusApproved, key, nil); done <- err }()
	for range 2 {
		select {
		case err := <-done:
			if err == nil {
				t.Error("Verify or Approve of a FIFO as the pack folder: no error")
			}
		case <-time.After(time.Minute):
			// A writer lets the blocked open return, so the test ends.
			for range 2 {
				if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					defer f.Close()
				}
			}
			t.Fatal("Verify or Approve still waits on the FIFO given as the pack folder after a minute")
		}
	}
}
