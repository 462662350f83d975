//go:build unix

package dataplane

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
)

// emfileChild is set in the environment of the child process of
// TestAcceptEMFILE.
const emfileChild = "PORTCULLIS_TEST_EMFILE_CHILD"

// emfileUpstream names, in the child's environment, the upstream the
// parent runs: a fasthttp.Server in the child, under the child's limit,
// could itself run out of descriptors accepting the sidecar's connection,
// and its Serve ends on EMFILE, so the test's last request waited on a
// backlog nobody accepted (a CI run failed so).
const emfileUpstream = "PORTCULLIS_TEST_EMFILE_UPSTREAM"

// TestEMFILEChild is the child process of TestAcceptEMFILE: a sidecar
// with a real upstream (in the parent), limited to a few file descriptors. It prints its
// address and serves until stdin closes; if Serve returns (as it did when
// an accept error was fatal) it exits 3, as the sidecar exits on it.
func TestEMFILEChild(t *testing.T) {
	if os.Getenv(emfileChild) == "" {
		t.Skip("child process of TestAcceptEMFILE")
	}
	store := &policy.Store{}
	store.Swap(loadExample(t))
	srv, err := New(Config{Store: store, Upstream: os.Getenv(emfileUpstream), Audit: &memSink{}, MaxConns: 1000, MaxConnsPerIP: 1000,
		Logger: zerolog.New(os.Stderr)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Few descriptors above those open now: accepting runs out (EMFILE)
	// long before the caps are reached.
	lim := syscall.Rlimit{Cur: uint64(openFDs(t) + 12), Max: 4096}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Printf("addr %s\n", ln.Addr())
	go func() {
		// A line asks for the accept errors on /metrics; the end of
		// stdin ends the child.
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			for _, l := range strings.Split(scrape(t, srv), "\n") {
				if strings.HasPrefix(l, "portcullis_accept_errors_total ") {
					fmt.Println(l)
				}
			}
			fmt.Println("end of metrics")
		}
		os.Exit(0)
	}()
	err = <-done
	fmt.Printf("serve returned: %v\n", err)
	os.Exit(3)
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// Item 10 of issue 12: running out of file descriptors while accepting
// must not stop the server. The child sidecar may open a dozen more
// descriptors; the test opens 40 idle connections, so accepting fails
// with EMFILE. The child must live, and once the connections close, a new
// one is served.
func TestAcceptEMFILE(t *testing.T) {
	if os.Getenv(emfileChild) != "" {
		t.Skip("parent only")
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc to count descriptors")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestEMFILEChild$", "-test.count=1")
	up := startUpstream(t)
	cmd.Env = append(os.Environ(), emfileChild+"=1", emfileUpstream+"="+up.addr)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "addr ") {
		cmd.Process.Kill()
		t.Fatalf("child said %q, %v; stderr:\n%s", line, err, stderr)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "addr "))
	rest := make(chan string, 1)
	metrics := make(chan string, 1)
	go func() {
		var b strings.Builder
		var page string
		for {
			l, err := out.ReadString('\n')
			switch {
			case l == "end of metrics\n":
				metrics <- page
				page = ""
			case strings.HasPrefix(l, "portcullis_"):
				page += l
			default:
				b.WriteString(l)
			}
			if err != nil {
				break
			}
		}
		rest <- b.String()
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})

	var idle []net.Conn
	for range 40 {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			break // the backlog may fill too
		}
		idle = append(idle, c)
	}
	// Wait until the child has run out of descriptors accepting them.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "too many open files") {
		select {
		case err := <-exited:
			t.Fatalf("child exited while out of descriptors: %v; stdout: %s; stderr:\n%s", err, <-rest, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("child did not run out of descriptors with %d connections open; stderr:\n%s", len(idle), stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range idle {
		c.Close()
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("child exited: %v; stdout: %s; stderr:\n%s", err, <-rest, stderr)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n")
			resp, rerr := http.ReadResponse(bufio.NewReader(c), nil)
			c.Close()
			if rerr == nil && resp.StatusCode == 200 {
				break
			}
			err = rerr
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request served 30s after the idle connections closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The errors waited out are on /metrics, not only in the log.
	io.WriteString(stdin, "metrics\n")
	var page string
	select {
	case page = <-metrics:
	case err := <-exited:
		t.Fatalf("child exited: %v; stdout: %s; stderr:\n%s", err, <-rest, stderr)
	}
	var n int
	if _, err := fmt.Sscanf(page, "portcullis_accept_errors_total %d", &n); err != nil || n == 0 {
		t.Fatalf("after running out of descriptors, /metrics says %q, want portcullis_accept_errors_total above 0", page)
	}
}
