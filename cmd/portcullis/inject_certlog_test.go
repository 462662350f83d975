package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// A certificate renewal that left the injector's files unusable (garbage,
// a key of another pair) kept the old certificate in service, which is
// right, without a word, which is not: the renewal had failed and nobody
// knew until the old certificate expired and every API server call
// failed. The injector now logs the refused files once, at warn, naming
// them, and logs at info when they load again.
func TestInjectorLogsRefusedCertificateFiles(t *testing.T) {
	t.Parallel()
	first, second := newTestPKI(t), newTestPKI(t)
	_, stderr, certFile, keyFile := startInjector(t, first)
	_, waitLine := watchInjectorLog(t, stderr, obsWait, &tls.Config{InsecureSkipVerify: true})
	if err := os.WriteFile(certFile+".new", []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(certFile+".new", certFile); err != nil {
		t.Fatal(err)
	}
	if l := waitLine("certificate files refused"); !strings.Contains(l, `"level":"warn"`) || !strings.Contains(l, certFile) {
		t.Errorf("refused certificate files logged as %s; want a warn line naming %s", l, certFile)
	}
	copyFile(t, second.serverCert, certFile)
	copyFile(t, second.serverKey, keyFile)
	waitLine("certificate files loaded again")
}

// watchInjectorLog reads the injector's log lines from stderr until it
// serves, and returns its address and waitLine: waitLine makes
// handshakes with dial's config (the files are checked on one, at most
// once a second) until the log holds a line with message msg, within
// wait, and returns that line.
func watchInjectorLog(t *testing.T, stderr io.Reader, wait time.Duration, dial *tls.Config) (string, func(msg string) string) {
	t.Helper()
	lines := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	addr := ""
	for addr == "" {
		l, ok := <-lines
		if !ok {
			t.Fatal("the injector stopped before it served")
		}
		var line struct{ Message, Listen string }
		if json.Unmarshal([]byte(l), &line) == nil && line.Message == "injector serving" {
			addr = line.Listen
		}
	}
	return addr, func(msg string) string {
		t.Helper()
		deadline := time.After(wait)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the injector stopped before it logged %q", msg)
				}
				if strings.Contains(l, `"message":"`+msg) {
					return l
				}
			case <-tick.C:
				if c, err := tls.Dial("tcp", addr, dial); err == nil {
					c.Close()
				}
			case <-deadline:
				t.Fatalf("the injector logged no %q line", msg)
			}
		}
	}
}
