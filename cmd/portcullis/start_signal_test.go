package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A SIGTERM while the collector waited for etcd at start (to read the
// detection rules) made it exit 1, "collector stopped" at error: a
// supervisor or an operator stopping a collector that never got to etcd
// saw a failure. It now exits 0, saying it stopped before it was ready.
// The sidecar does not wait for etcd at start (it serves, not ready,
// while etcd is away): a SIGTERM before it is ready drains and exits 0.
func TestStopBeforeReadyWhileEtcdDoesNotAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	e, _ := etcdClient(t)
	p := newFreezeProxy(t, strings.TrimPrefix(e.Endpoints()[0], "http://"))
	p.freeze()
	etcd := "http://" + p.ln.Addr().String()
	keyFile, tokenFile := h.collectorFiles("stop-test-collector-token-0123456789abcdef")

	col := h.start("collector", "collector", "--listen", freeAddr(t), "--data", filepath.Join(h.dir, "data"), "--signing-key", keyFile,
		"--token-file", tokenFile, "--etcd", etcd, "--prefix", "/stop")
	logPath := filepath.Join(h.dir, "collector.log")
	h.until("the collector waiting for etcd", func() (bool, string) {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "waiting for etcd"), string(b)
	})
	if err := col.signal(t, syscall.SIGTERM); err != nil {
		t.Errorf("collector after SIGTERM while waiting for etcd: %v, want exit 0", err)
	}
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "stopped before it was ready") || strings.Contains(string(b), `"level":"error"`) {
		t.Errorf("collector log does not say it stopped before it was ready, or logs an error:\n%s", b)
	}

	admin := freeAddr(t)
	sc := h.start("sidecar", "sidecar", "--etcd", etcd, "--prefix", "/stop", "--upstream", freeAddr(t), "--listen", freeAddr(t),
		"--admin", admin, "--state-dir", filepath.Join(h.dir, "state"), "--spool", filepath.Join(h.dir, "spool"), "--drain-delay", "0s")
	h.until("the sidecar's admin listener, not ready", func() (bool, string) {
		code := h.status("http://" + admin + "/readyz")
		return code == 503, strconv.Itoa(code)
	})
	if err := sc.signal(t, syscall.SIGTERM); err != nil {
		t.Errorf("sidecar after SIGTERM before it was ready: %v, want exit 0", err)
	}
}
