package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A --state-dir that other users could write was used as it came, so
// any of them could plant the last-known-good policy a restart during an
// etcd outage serves (its checksum line stops a torn write, not an
// edit). The sidecar now does not start on it: exit 1, naming the flag,
// the directory and why.
func TestSidecarStateDirOthersCanWriteRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	e, _ := etcdClient(t)
	state := filepath.Join(h.dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(state, 0o777); err != nil {
		t.Fatal(err)
	}
	p := h.start("sidecar", "sidecar", "--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/statedir", "--upstream", freeAddr(t),
		"--listen", freeAddr(t), "--admin", freeAddr(t), "--state-dir", state, "--spool", filepath.Join(h.dir, "spool"))
	select {
	case <-p.done:
	case <-time.After(killWait):
		t.Fatalf("the sidecar runs on a --state-dir of mode 0777")
	}
	var exit *exec.ExitError
	if !errors.As(p.err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("sidecar: %v, want exit 1", p.err)
	}
	b, _ := os.ReadFile(filepath.Join(h.dir, "sidecar.log"))
	if !strings.Contains(string(b), "--state-dir: state directory") || !strings.Contains(string(b), state) ||
		!strings.Contains(string(b), "writable by its group or by others (mode 0777)") {
		t.Errorf("log does not name --state-dir, the directory and why:\n%s", b)
	}
}
