package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The collector stopped listening for SIGTERM and SIGINT as soon as its
// intake listener closed, before it waited for the batches in flight,
// published its final signed head and closed the store: a second signal
// in that window (a second Ctrl-C, a supervisor signalling again) killed
// it there. The signals are now caught until the collector has stopped,
// as the sidecar's are.
func TestCollectorSurvivesSecondSignalWhileStopping(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a real process")
	}
	h := newKillHarness(t)
	const token = "sig-test-collector-token-0123456789abcdef"
	keyFile, tokenFile := h.collectorFiles("sidecar-a " + token)
	listen := freeAddr(t)
	p := h.start("collector", "collector", "--listen", listen, "--data", filepath.Join(h.dir, "data"),
		"--signing-key", keyFile, "--token-file", tokenFile)
	h.serving("the collector up", "http://"+listen+"/metrics", "Authorization", "Bearer "+token)
	// A batch in flight: its headers and part of its body, so the
	// shutdown waits for it.
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\nxx", token)
	p.cmd.Process.Signal(syscall.SIGTERM)
	h.until("the intake listener closed after SIGTERM", func() (bool, string) {
		d, err := net.DialTimeout("tcp", listen, time.Second)
		if err != nil {
			return true, ""
		}
		d.Close()
		return false, "still accepting"
	})
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Errorf("collector after a second SIGTERM while stopping: %v, want exit 0", err)
	}
	// It says so (review66): it logged nothing from SIGTERM to its exit,
	// so a collector gone was told from one that crashed silently only by
	// its exit status.
	b, err := os.ReadFile(filepath.Join(h.dir, "collector.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"message":"collector stopping`, `"message":"collector stopped"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("collector log lacks %s; log:\n%s", want, b)
		}
	}
}
