package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// SIGHUP reloads a file-mode sidecar's policy. Sent to an etcd-mode
// sidecar or to the collector (an operator's habit, a config tool that
// signals every portcullis process, a closed terminal), it killed them
// on the spot with exit 129: no drain, the audit records in memory lost,
// the collector's final head never published. Now they log that there is
// nothing to reload and carry on; SIGTERM still stops them cleanly.
func TestHangupDoesNotKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	e, _ := etcdClient(t)
	keyFile, tokenFile := h.collectorFiles("hup-test-collector-token-0123456789abcdef")
	colAddr, colMetrics, admin := freeAddr(t), freeAddr(t), freeAddr(t)
	procs := map[string]struct {
		p      *proc
		health string
	}{
		"collector": {h.start("collector", "collector", "--listen", colAddr, "--metrics-listen", colMetrics, "--data", filepath.Join(h.dir, "data"),
			"--signing-key", keyFile, "--token-file", tokenFile), "http://" + colMetrics + "/healthz"},
		"sidecar": {h.start("sidecar", "sidecar", "--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/hup", "--state-dir", filepath.Join(h.dir, "state"),
			"--upstream", freeAddr(t), "--listen", freeAddr(t), "--admin", admin, "--audit-file", filepath.Join(h.dir, "audit.jsonl"),
			"--drain-delay", "0s"), "http://" + admin + "/healthz"},
	}
	for name, c := range procs {
		h.until(name+" up", func() (bool, string) {
			code := h.status(c.health)
			return code == 200, strconv.Itoa(code)
		})
		c.p.cmd.Process.Signal(syscall.SIGHUP)
		h.until(name+" logging the SIGHUP it ignored", func() (bool, string) {
			b, _ := os.ReadFile(filepath.Join(h.dir, name+".log"))
			return strings.Contains(string(b), "SIGHUP"), string(b)
		})
		if code := h.status(c.health); code != 200 {
			t.Errorf("%s after SIGHUP: /healthz %d, want 200", name, code)
		}
		if err := c.p.signal(t, syscall.SIGTERM); err != nil {
			t.Errorf("%s after SIGHUP, then SIGTERM: %v, want exit 0", name, err)
		}
	}
}
