//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/tmpfs"
)

// The audit file's disk fills and is freed while the sidecar serves: the
// record that waited is written once there is room, nothing is lost, and
// the sidecar stopping afterwards exits cleanly. Before, the file writer
// kept the first failed write for Close, so a sidecar that had recovered
// and lost nothing stopped with "sidecar failed: audit: cannot write audit
// file ...: no space left on device" and exit 1.
func TestSidecarAuditFileRecoveredStopsCleanly(t *testing.T) {
	t.Parallel()
	dir := tmpfs.Mount(t, 256<<10)
	path := filepath.Join(dir, "audit.jsonl")
	t.Cleanup(func() { // runs once the sidecar has stopped
		if lines := readLines(t, path); len(lines) != 2 {
			t.Errorf("the audit file holds %d records after the stop, want the 2 accepted:\n%s", len(lines), strings.Join(lines, "\n"))
		}
	})
	f := runInProcess(t, sidecarFlags{policyFile: examplePolicy, auditFile: path})
	filler := tmpfs.Fill(t, dir)
	if code := get(t, "http://"+f.listen+"/v1/users", hrisKey); code != 200 {
		t.Fatalf("request on a full disk = %d, want 200 (best effort)", code)
	}
	pollUntil(t, obsWait, "the failed write in /readyz", func() (bool, string) {
		_, ready := body(t, "http://"+f.admin+"/readyz")
		return strings.Contains(ready, "not taking writes"), ready
	})
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code := get(t, "http://"+f.listen+"/v1/users", hrisKey); code != 200 {
		t.Fatalf("request once there is room = %d, want 200", code)
	}
	pollUntil(t, obsWait, "both records written", func() (bool, string) {
		_, ready := body(t, "http://"+f.admin+"/readyz")
		return strings.Contains(ready, ": writing; 2 written, "), ready
	})
}
