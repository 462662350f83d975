package inject

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The injector's --config is a regular file of at most 1 MiB: a larger
// one was read whole into memory, and a FIFO held open(2) for ever.
func TestLoadConfigIsCapped(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 1<<20+1); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(big); err == nil || !strings.Contains(err.Error(), "too large") || !strings.Contains(err.Error(), big) {
		t.Errorf("LoadConfig of a file over 1 MiB: %v, want it refused naming the file and the cap", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("LoadConfig of a FIFO: %v, want it refused", err)
	}
}
