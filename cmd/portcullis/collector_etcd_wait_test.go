package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A collector started with --etcd while etcd does not answer waits for
// the detection rules before it takes traffic. It used to wait without a
// word: no log line, no listener, for as long as etcd stayed away, while
// every sidecar spooled. Now it says at once that it waits for etcd and
// why, and starts once etcd answers.
func TestCollectorSaysItWaitsForEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	e, _ := etcdClient(t)
	p := newFreezeProxy(t, strings.TrimPrefix(e.Endpoints()[0], "http://"))
	p.freeze()
	keyFile, tokenFile := h.collectorFiles("wait-test-collector-token-0123456789abcdef")
	listen := freeAddr(t)
	h.start("collector", "collector", "--listen", listen, "--data", filepath.Join(h.dir, "data"), "--signing-key", keyFile,
		"--token-file", tokenFile, "--etcd", "http://"+p.ln.Addr().String(), "--prefix", "/wait")
	logPath := filepath.Join(h.dir, "collector.log")
	h.until("a log line saying the collector waits for etcd", func() (bool, string) {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), `"level":"warn"`) && strings.Contains(string(b), "waiting for etcd") &&
			strings.Contains(string(b), p.ln.Addr().String()), string(b)
	})
	p.thaw()
	h.serving("the collector listening once etcd answers", "http://"+listen+"/healthz")
}
