//go:build linux

package main

import (
	"errors"
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

// A connection cap the open-files limit cannot hold froze the sidecar:
// at ulimit -n 12 the cap was raised to a floor of 16 connections (32
// descriptors with their upstreams), so the first idle connections took
// every descriptor and the admin listener waited on accept4 (too many
// open files), /readyz and /metrics dark, with nothing said at start. A
// limit that leaves no room for the reserve and the cap is now refused
// at start: a usage error (exit 2) naming the limit and the cap.
func TestSidecarRefusesOpenFilesLimitBelowConnCap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a real process")
	}
	h := newKillHarness(t)
	admin := freeAddr(t)
	out := runAtOpenFilesLimit(t, h, 12, func() bool { return h.status("http://"+admin+"/healthz") == 200 },
		"sidecar", "--policy", examplePolicy, "--upstream", freeAddr(t), "--listen", freeAddr(t), "--admin", admin,
		"--audit-file", filepath.Join(h.dir, "audit.jsonl"), "--drain-delay", "0s", "--max-conns", "16")
	for _, want := range []string{"portcullis sidecar: ", "open-files limit 12", "--max-conns 16", "ulimit -n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
}

// runAtOpenFilesLimit runs `portcullis args...` under the soft
// open-files limit given (ulimit -n in a shell that execs it), expecting
// it to refuse to start with a usage error (exit 2); up reports it
// serving, which fails the test. It returns what the process wrote.
func runAtOpenFilesLimit(t *testing.T, h *killHarness, limit int, up func() bool, args ...string) string {
	t.Helper()
	var out lockedBuffer
	cmd := exec.Command("sh", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, limit), "sh", h.bin}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	deadline := time.After(killWait)
	for {
		select {
		case err := <-done:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Errorf("%s at ulimit -n %d exited %v, want a usage error (exit 2):\n%s", args[0], limit, err, out.String())
			}
			done <- err // for the cleanup
			return out.String()
		case <-deadline:
			t.Fatalf("%s at ulimit -n %d neither served nor exited in %v:\n%s", args[0], limit, killWait, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if up() {
			t.Fatalf("%s started at ulimit -n %d, which cannot hold its connection cap:\n%s", args[0], limit, out.String())
		}
	}
}
