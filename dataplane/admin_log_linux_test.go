package dataplane

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The admin listener's fasthttp server logged its connection errors with
// fasthttp's default logger: to stderr, whatever --log-level said, and
// with the bytes of the request it could not parse, so a scraper's
// Authorization header (or anything a client sent) reached the pod's log
// in plain text, one unbounded line per bad request (review48). It logs
// through the sidecar's logger now, as the data listener does: at debug
// level and without the request's bytes (TestLogsHoldNoRawBytes).
//
// fasthttp's default logger holds os.Stderr, so the test points file
// descriptor 2 at a file while the bad requests are served.
func TestAdminLogsHoldNoRawBytes(t *testing.T) {
	logs := &syncBuffer{}
	st := startStack(t, func(c *Config) { c.Logger = zerolog.New(logs).Level(zerolog.DebugLevel) })
	admin := &Admin{Server: st.srv}
	ln := listenAdmin(t, admin)

	stderr := captureStderr(t)
	const canary = "CanaryAdminLog7d2c"
	for _, req := range []string{
		"GET /metrics HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer " + canary + "\r\nBroken header line\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer " + canary + "\r\nContent-Length: x\r\n\r\n",
	} {
		c := dialFrom(t, "127.0.0.1", ln.Addr().String())
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte(req))
		line, _ := bufio.NewReader(c).ReadString('\n')
		if !strings.HasPrefix(line, "HTTP/1.1 400 ") {
			t.Errorf("a request the admin listener cannot parse: got %q, want 400", line)
		}
		c.Close()
	}
	// fasthttp logs after it answered: wait for both lines, wherever
	// they go.
	pollUntil(t, "the admin listener's errors to be logged", func() (bool, string) {
		n := strings.Count(logs.String(), "error when serving connection") + strings.Count(stderr(), "error when serving connection")
		return n >= 2, "logged " + strconv.Itoa(n) + " errors of 2"
	})
	if out := stderr(); strings.Contains(out, canary) {
		t.Errorf("the admin listener wrote the request's bytes to stderr:\n%s", out)
	}
	if out := logs.String(); strings.Contains(out, canary) {
		t.Errorf("the admin listener logged the request's bytes:\n%s", out)
	}
}

// captureStderr points file descriptor 2 at a temporary file until the
// test ends; the function it returns reads what was written there so far.
func captureStderr(t *testing.T) func() string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup3(int(f.Fd()), 2, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Dup3(saved, 2, 0)
		syscall.Close(saved)
		f.Close()
	})
	return func() string {
		b, _ := os.ReadFile(f.Name())
		return string(b)
	}
}
