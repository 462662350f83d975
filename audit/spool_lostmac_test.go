package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLostLineCountNotLoweredByEditor: the sidecar has a bearer token,
// and a batch of 50 records was counted lost (a line of .lost written by
// the spool). Whoever can write the spool directory, but cannot read the
// token, rewrites the line to a count of 5 with a matching CRC-32C: the
// start read 5, and the batch of 50 put back under its number counted 5
// restored, 45 shown lost for good that were not (records 5, want 0:
// not known). With a token the lines carry an HMAC under a key derived
// from it; a line that does not verify, or that has only a checksum (the
// release before), is read as a batch whose count is not known, never a
// lower one. A line of the spool's own still reads its count.
func TestLostLineCountNotLoweredByEditor(t *testing.T) {
	t.Parallel()
	key := lostKey("collector-token-for-the-test")
	dir := t.TempDir()
	s, err := openSpoolKeyed(dir, 1<<20, key)
	if err != nil {
		t.Fatal(err)
	}
	s.lost.add(7, 50)
	s.lost.add(9, 4)
	s.dirMu.Lock()
	err = s.saveLost()
	s.dirMu.Unlock()
	s.close()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, lostFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	forged := string(appendLostLine(nil, seqRun{7, 7, 5}, nil)) // "7 7 5 <crc>"
	lines := strings.SplitAfter(string(b), "\n")
	if !strings.HasPrefix(lines[0], "7 7 50 ") {
		t.Fatalf(".lost holds %q; want the run of 7 first", b)
	}
	lines[0] = forged
	if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = openSpoolKeyed(dir, 1<<20, key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if n, ok := s.lost.records(7); !ok || n != 0 {
		t.Errorf("the edited line reads records %d, %v; want 0 (not known), true", n, ok)
	}
	if n, ok := s.lost.records(9); !ok || n != 4 {
		t.Errorf("the spool's own line reads records %d, %v; want 4, true", n, ok)
	}
}

// TestEmitterMACsLostLinesWithItsToken: an Emitter with a bearer token
// writes .lost with MACs under the key derived from it, and one without
// a token with checksums.
func TestEmitterMACsLostLinesWithItsToken(t *testing.T) {
	t.Parallel()
	for _, token := range []string{"collector-token-for-the-test", ""} {
		dir := t.TempDir()
		e, err := NewEmitter(EmitterConfig{URL: "http://127.0.0.1:1", Token: token, SpoolDir: dir, CloseTimeout: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		e.sp.mu.Lock()
		e.sp.lost.add(7, 50)
		e.sp.mu.Unlock()
		e.sp.lostChanged.Store(true)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, lostFile))
		if err != nil {
			t.Fatal(err)
		}
		if want := string(appendLostLine(nil, seqRun{7, 7, 50}, lostKey(token))); string(b) != want {
			t.Errorf("token %q: .lost holds %q, want %q", token, b, want)
		}
	}
}
