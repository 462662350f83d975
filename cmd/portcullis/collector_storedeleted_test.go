//go:build linux

package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// The collector's store directory is deleted under it while a sidecar
// sends. The collector kept appending to the open segment, deleted with
// the directory, acknowledged every batch (the sidecar let them go, its
// spool empty) and /readyz said "store: ok, storing": every record sent
// after the deletion was lost, and nothing said so but the head's
// failing publication. Now each append is refused (503), the sidecar
// keeps the batches in its spool and /readyz fails.
func TestStoreDeletedUnderTheCollectorRefuses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	h := newKillHarness(t)
	data := filepath.Join(h.dir, "audit")
	keyFile, tokenFile := h.collectorFiles("storedeleted-test-token-0123456789abcdef")
	upAddr := freeAddr(t)
	h.start("upstream", "upstream", "--listen", upAddr)
	sc := sidecarArgs{listen: freeAddr(t), upstream: upAddr, admin: freeAddr(t), collector: freeAddr(t),
		tokenFile: tokenFile, spool: filepath.Join(h.dir, "spool")}
	metricsAddr := freeAddr(t)
	h.start("collector", "collector", "--listen", sc.collector, "--data", data,
		"--signing-key", keyFile, "--token-file", tokenFile, "--metrics-listen", metricsAddr)
	h.serving("collector readiness", "http://"+metricsAddr+"/readyz")
	h.startSidecar("sidecar", sc)

	const n1, n2 = 5, 15
	h.send(sc.listen, 0, n1)
	h.until(fmt.Sprintf("%d records stored", n1), func() (bool, string) {
		ids := storedIDs(t, data)
		return len(ids) == n1, fmt.Sprintf("%d stored", len(ids))
	})
	// The collector may still write into the directory (a batch's last
	// step) while RemoveAll empties it, which then fails "directory not
	// empty" (CI, once): remove until it is gone, as an operator's rm -r
	// run again would.
	h.until("the store directory deleted", func() (bool, string) {
		err := os.RemoveAll(data)
		return err == nil, fmt.Sprint(err)
	})
	h.send(sc.listen, n1, n2)
	h.until("the records sent after the deletion kept in the sidecar's spool, the collector not ready", func() (bool, string) {
		c := h.auditCounters(sc.admin)
		ready := h.status("http://" + metricsAddr + "/readyz")
		return c.spoolRecords == n2-n1 && ready == http.StatusServiceUnavailable,
			fmt.Sprintf("%s; collector /readyz %d", c, ready)
	})
	if c := h.auditCounters(sc.admin); c.delivered != n1 {
		t.Errorf("%s: want only the %d records stored before the deletion delivered", c, n1)
	}
}
