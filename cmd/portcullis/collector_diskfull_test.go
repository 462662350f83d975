//go:build linux

package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/tmpfs"
)

// The collector's disk fills while a sidecar keeps sending: the batches
// the store cannot hold are answered 503 and stay in the sidecar's
// spool, the collector logs and counts it, a collector killed and
// restarted on the full disk starts, and once space is back the spool
// drains by itself with every record stored once, in order, and the
// store verifies.
func TestCollectorDiskFullSidecarSpoolsAndResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	fs := tmpfs.Mount(t, 1<<20)
	data := filepath.Join(fs, "audit")
	keyFile, tokenFile := h.collectorFiles("diskfull-test-collector-token-0123456789abcdef")
	upAddr := freeAddr(t)
	h.start("upstream", "upstream", "--listen", upAddr)
	sc := sidecarArgs{listen: freeAddr(t), upstream: upAddr, admin: freeAddr(t), collector: freeAddr(t),
		tokenFile: tokenFile, spool: filepath.Join(h.dir, "spool")}
	metricsAddr := freeAddr(t)
	startCollector := func() *proc {
		p := h.start("collector", "collector", "--listen", sc.collector, "--data", data,
			"--signing-key", keyFile, "--token-file", tokenFile, "--metrics-listen", metricsAddr)
		h.until("collector health", func() (bool, string) {
			select {
			case <-p.done:
				b, _ := os.ReadFile(filepath.Join(h.dir, "collector.log"))
				t.Fatalf("collector exited: %v\n%s", p.err, tail(string(b), 2000))
			default:
			}
			code := h.status("http://" + metricsAddr + "/healthz")
			return code == http.StatusOK, fmt.Sprintf("/healthz %d", code)
		})
		return p
	}
	col := startCollector()
	h.startSidecar("sidecar", sc)

	const n1, n2 = 50, 150
	h.send(sc.listen, 0, n1)
	h.until(fmt.Sprintf("%d records stored", n1), func() (bool, string) {
		ids := storedIDs(t, data)
		return len(ids) == n1, fmt.Sprintf("%d stored", len(ids))
	})

	filler := tmpfs.Fill(t, fs)
	h.send(sc.listen, n1, n2)
	h.until("the batches the full disk refused spooled", func() (bool, string) {
		c := h.auditCounters(sc.admin)
		m := h.metrics(metricsAddr)
		return c.spoolRecords > 0 && m[`portcullis_collector_rejects_total{reason="store_error"}`] > 0,
			c.String() + fmt.Sprintf(" store rejects %d", m[`portcullis_collector_rejects_total{reason="store_error"}`])
	})
	if b, _ := os.ReadFile(filepath.Join(h.dir, "collector.log")); !strings.Contains(string(b), "audit store append failed") {
		t.Errorf("the collector's log says nothing of the full disk:\n%s", tail(string(b), 2000))
	}

	// Killed and restarted on the full disk, the collector starts.
	col.signal(t, syscall.SIGKILL)
	col = startCollector()

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	h.until("the spool drained once space is back", func() (bool, string) {
		c := h.auditCounters(sc.admin)
		return c.spoolRecords == 0 && c.dropped == 0 && c.delivered+c.replayed == n2, c.String()
	})
	if err := col.signal(t, syscall.SIGTERM); err != nil {
		t.Errorf("collector stopped with %v", err)
	}
	checkExactlyOnce(t, storedIDs(t, data), n2)
	pub, err := collector.LoadPublicKey(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := collector.Verify(data, pub)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !rep.OK() || rep.Records != n2 {
		t.Errorf("verify: ok=%v records=%d (want %d) problems=%v", rep.OK(), rep.Records, n2, rep.Problems)
	}
}
