package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file of the sidecar's own user whose name the spool does not write
// ("...-01.otlp", "...-+1.otlp") was taken for a batch and set the next
// sequence from its name: named as the largest sequence, it made the next
// wrap to 0. Only a name exactly as put writes it is a batch now, and a
// batch of its own at maxSpoolSeq or past it is an error naming the file,
// not a wrap.
func TestSpoolSeqFromExactNamesOnly(t *testing.T) {
	t.Parallel()
	plant := func(t *testing.T, names ...string) string {
		t.Helper()
		dir := t.TempDir()
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	for _, name := range []string{"18446744073709551615-01.otlp", "18446744073709551615-+1.otlp", "18446744073709551615-1.otlp.otlp"} {
		s, err := openSpool(plant(t, "00000000000000000004-2.otlp", name), 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := s.nextSeq(); got != 5 {
			t.Errorf("with %q in the spool: next sequence %d, want 5 (one past the batch named as the spool names them)", name, got)
		}
		if files, _, _ := s.usage(); files != 1 {
			t.Errorf("with %q in the spool: %d batches, want 1", name, files)
		}
		s.close()
	}

	for _, name := range []string{"18446744073709551615-1.otlp", "09223372036854775808-1.otlp"} {
		dir := plant(t, name)
		s, err := openSpool(dir, 1<<20)
		if err == nil {
			t.Errorf("a spool holding batch %q opened, next sequence %d; want an error", name, s.nextSeq())
			s.close()
			continue
		}
		if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "wrap") {
			t.Errorf("error %q does not name the file %q and say the sequence would wrap", err, name)
		}
	}
	s, err := openSpool(plant(t, "09223372036854775807-1.otlp"), 1<<20)
	if err != nil {
		t.Fatalf("a spool whose highest batch is one below maxSpoolSeq: %v", err)
	}
	defer s.close()
	if got := s.nextSeq(); got != maxSpoolSeq {
		t.Errorf("next sequence %d, want %d", got, uint64(maxSpoolSeq))
	}
}
