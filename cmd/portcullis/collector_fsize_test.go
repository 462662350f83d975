//go:build linux

package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCollectorRefusesFileSizeLimitBelowSegments starts the collector
// under a file size limit (ulimit -f) below what a segment grows to: it
// started, stored until the open segment reached the limit, then failed
// every append with "file too large" and, restarted, filled the next
// segment to the limit the same way. It now refuses to start, naming the
// limit and --segment-max-bytes, as it refuses an open-files limit below
// its connection cap.
func TestCollectorRefusesFileSizeLimitBelowSegments(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a real process")
	}
	h := newKillHarness(t)
	keyFile, tokenFile := h.collectorFiles("sidecar-a fsize-low-collector-token-0123456789abcdef")
	metrics := freeAddr(t)
	var out lockedBuffer
	// ulimit -f of sh (dash) counts 512-byte blocks: 512 KiB.
	cmd := exec.Command("sh", "-c", `ulimit -f 1024 && exec "$@"`, "sh", h.bin, "collector", "--listen", freeAddr(t), "--metrics-listen", metrics,
		"--data", filepath.Join(h.dir, "data"), "--signing-key", keyFile, "--token-file", tokenFile)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	deadline := time.After(killWait)
	for {
		select {
		case err := <-done:
			done <- err // for the cleanup
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("collector at ulimit -f 1024 exited %v, want a usage error (exit 2):\n%s", err, out.String())
			}
			for _, want := range []string{"portcullis collector: ", "file size limit 524288 bytes (ulimit -f)", "--segment-max-bytes 67108864"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the refusal does not say %q:\n%s", want, out.String())
				}
			}
			return
		case <-deadline:
			t.Fatalf("collector at ulimit -f 1024 neither served nor exited in %v:\n%s", killWait, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if h.status("http://"+metrics+"/healthz") == 200 {
			t.Fatalf("collector started at ulimit -f 1024, below its segments' size:\n%s", out.String())
		}
	}
}
