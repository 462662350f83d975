//go:build linux

package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// With --max-conns (default 10000) above what the open-files limit
// leaves room for, idle client connections took every descriptor: the
// admin listener could not accept (accept4: too many open files), so
// /metrics and /readyz went dark exactly when they were needed, and no
// upstream connection could be dialled. The sidecar now lowers the cap
// to fit the limit, says so at start, and /metrics answers under a flood
// of connections.
func TestSidecarConnCapFitsOpenFilesLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a real process")
	}
	h := newKillHarness(t)
	listen, admin := freeAddr(t), freeAddr(t)
	logPath := filepath.Join(h.dir, "sidecar.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command("sh", "-c", fmt.Sprintf("ulimit -n 400 && exec %s sidecar --policy %s --upstream %s --listen %s --admin %s --audit-file %s --drain-delay 0s",
		h.bin, examplePolicy, freeAddr(t), listen, admin, filepath.Join(h.dir, "audit.jsonl")))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if b, _ := os.ReadFile(logPath); t.Failed() {
			t.Logf("--- sidecar log ---\n%s", tail(string(b), 4000))
		}
	})
	h.until("the sidecar up", func() (bool, string) { return h.status("http://"+admin+"/healthz") == 200, "" })
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "--max-conns lowered") {
		t.Errorf("no line at start saying --max-conns was lowered to fit the open-files limit:\n%s", b)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 450 {
		c, err := net.DialTimeout("tcp", listen, 5*time.Second)
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	// Every connection is open (and, within the cap, accepted) before
	// the scrape; the idle ones stay for the sidecar's read timeout,
	// longer than this request's deadline.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("/metrics under a flood of %d connections: %v", len(conns), err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/metrics under a flood of %d connections: %s", len(conns), resp.Status)
	}
}
