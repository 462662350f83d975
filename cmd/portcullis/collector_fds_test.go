//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// --metrics-listen answers without authentication, and took every
// connection offered: one host that reaches it (the monitoring network)
// held the collector's every descriptor with idle keep-alive connections,
// and the intake listener could accept no sidecar's batch (accept4: too
// many open files) for as long as the flood lasted. The metrics listener
// now holds a few connections at a time; the rest wait in the kernel's
// backlog, not in the collector's descriptor table.
func TestCollectorMetricsListenerCannotTakeEveryDescriptor(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a real process")
	}
	h := newKillHarness(t)
	const token = "fds-test-collector-token-0123456789abcdef"
	keyFile, tokenFile := h.collectorFiles("sidecar-a " + token)
	listen, metrics := freeAddr(t), freeAddr(t)
	logPath := filepath.Join(h.dir, "collector.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command("sh", "-c", fmt.Sprintf("ulimit -n 256 && exec %s collector --listen %s --metrics-listen %s --data %s --signing-key %s --token-file %s",
		h.bin, listen, metrics, filepath.Join(h.dir, "data"), keyFile, tokenFile))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if b, _ := os.ReadFile(logPath); t.Failed() {
			t.Logf("--- collector log ---\n%s", tail(string(b), 4000))
		}
	})
	h.until("the collector up", func() (bool, string) {
		code := h.status("http://" + metrics + "/healthz")
		return code == 200, strconv.Itoa(code)
	})

	// More connections than the collector has descriptors, each sending a
	// request every few seconds, so none idles out while the test runs.
	var flood []net.Conn
	stop := make(chan struct{})
	defer func() {
		close(stop)
		for _, c := range flood {
			c.Close()
		}
	}()
	for range 300 {
		c, err := net.DialTimeout("tcp", metrics, 5*time.Second)
		if err != nil {
			break
		}
		flood = append(flood, c)
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	if len(flood) < 256 {
		t.Fatalf("only %d connections to --metrics-listen opened; the test needs more than the collector's 256 descriptors", len(flood))
	}
	go func(conns []net.Conn) {
		tick := time.NewTicker(3 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, c := range conns {
				io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			}
		}
	}(flood)
	// The intake listener still accepts and answers a sender. Until the
	// fix it accepted nothing while the flood's connections stayed open.
	h.until("the intake listener answering a sender under a flood of "+strconv.Itoa(len(flood))+" metrics connections", func() (bool, string) {
		code := h.status("http://"+listen+"/metrics", "Authorization", "Bearer "+token)
		return code == 200, strconv.Itoa(code)
	})
}
