//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	listen, metrics, _ := startCollectorAt256(t, h, keyFile, tokenFile)

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
	h.serving("the intake listener answering a sender under a flood of "+strconv.Itoa(len(flood))+" metrics connections", "http://"+listen+"/metrics", "Authorization", "Bearer "+token)
}

// --max-conns defaulted to 4096 whatever the open-files limit: under the
// common soft limit of 1024 (here 256), senders' kept-alive connections
// took every descriptor before the cap, so the collector could open no
// segment, head or etcd connection, and its listeners accepted nothing
// (net/http retries accept on EMFILE, so for as long as they stayed). The
// default is now fitted to the soft limit, leaving room for the store,
// etcd and the metrics listener, and given at start; connections past it
// are closed as they arrive, counted, and /metrics still answers.
func TestCollectorConnCapFitsOpenFilesLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a real process")
	}
	h := newKillHarness(t)
	const token = "fds-cap-collector-token-0123456789abcdef"
	keyFile, tokenFile := h.collectorFiles("sidecar-a " + token)
	listen, metrics, logPath := startCollectorAt256(t, h, keyFile, tokenFile)
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), `"max_conns":64,`) {
		t.Errorf("no line at start giving the connection cap fitted to 256 descriptors, 64:\n%s", b)
	}

	// Authenticated kept-alive connections, more than the collector has
	// descriptors, each asking again every few seconds so none idles out.
	const ask = "GET /v1/logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\n\r\n"
	var flood []net.Conn
	stop := make(chan struct{})
	defer func() {
		close(stop)
		for _, c := range flood {
			c.Close()
		}
	}()
	// One at a time, each authenticated (answered) before the next, so
	// the cap of unauthenticated connections of one address does not
	// close them; past the descriptors the collector has, a connection
	// waits unaccepted in the backlog and the flood stops there.
	for range 300 {
		c, err := net.DialTimeout("tcp", listen, 5*time.Second)
		if err != nil {
			break
		}
		flood = append(flood, c)
		io.WriteString(c, ask)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			break
		}
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
				io.WriteString(c, ask)
			}
		}
	}(flood)
	h.until("the metrics listener answering, the connections past the cap counted", func() (bool, string) {
		m := h.metrics(metrics)
		return m["portcullis_collector_connections_capped_total"] > 0, fmt.Sprint(m["portcullis_collector_connections_capped_total"])
	})
}

// startCollectorAt256 starts the collector with an open-files limit of
// 256 (ulimit -n in a shell that execs it), its log kept in the harness
// dir and shown if the test fails, and waits until /healthz answers.
func startCollectorAt256(t *testing.T, h *killHarness, keyFile, tokenFile string) (listen, metrics, logPath string) {
	t.Helper()
	listen, metrics = freeAddr(t), freeAddr(t)
	logPath = filepath.Join(h.dir, "collector.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
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
	h.serving("the collector up", "http://"+metrics+"/healthz")
	return listen, metrics, logPath
}

// The collector's cap had the sidecar's floor: at an open-files limit
// below its reserve for the store, etcd and the metrics listener (here
// 200), the cap was raised to 16 connections where only 8 fit, so
// senders' connections could take the descriptors the store needs and
// the listeners accepted nothing. Such a limit is now refused at start, a
// usage error naming the limit and the cap.
func TestCollectorRefusesOpenFilesLimitBelowConnCap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a real process")
	}
	h := newKillHarness(t)
	keyFile, tokenFile := h.collectorFiles("sidecar-a fds-low-collector-token-0123456789abcdef")
	metrics := freeAddr(t)
	out := runAtOpenFilesLimit(t, h, 200, func() bool { return h.status("http://"+metrics+"/healthz") == 200 },
		"collector", "--listen", freeAddr(t), "--metrics-listen", metrics, "--data", filepath.Join(h.dir, "data"),
		"--signing-key", keyFile, "--token-file", tokenFile)
	for _, want := range []string{"portcullis collector: ", "open-files limit 200", "the default --max-conns", "16 connections", "ulimit -n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
}
