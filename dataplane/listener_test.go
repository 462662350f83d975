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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp/fasthttputil"
)

// dialFrom opens a connection to addr from the loopback address from
// (127.0.0.0/8 is all loopback on Linux), so one test can be many peers.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c without answering
// (a read ends with EOF or a reset), waiting up to 10 s.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	_, err := c.Read(b[:])
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// getOn sends a request on c and returns its status.
func getOn(t *testing.T, c net.Conn) int {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Item 10 of issue 12: open connections are capped in total and per peer
// address. Past a cap a new connection is closed at once, the ones within
// keep working, and once some close a new one is served.
func TestConnectionCaps(t *testing.T) {
	st := startStack(t, func(c *Config) { c.MaxConns, c.MaxConnsPerIP = 6, 3 })
	var held []net.Conn
	for range 3 {
		c := dialFrom(t, "127.0.0.1", st.addr)
		if got := getOn(t, c); got != 200 {
			t.Fatalf("connection within the caps: status %d, want 200", got)
		}
		held = append(held, c)
	}
	if !closedByServer(dialFrom(t, "127.0.0.1", st.addr)) {
		t.Fatal("a 4th connection from 127.0.0.1 stayed open, want it closed (per-IP cap 3)")
	}
	for range 3 { // another address still gets its share of the total
		c := dialFrom(t, "127.0.0.2", st.addr)
		if got := getOn(t, c); got != 200 {
			t.Fatalf("connection from 127.0.0.2: status %d, want 200", got)
		}
		held = append(held, c)
	}
	if !closedByServer(dialFrom(t, "127.0.0.3", st.addr)) {
		t.Fatal("a 7th connection stayed open, want it closed (cap 6)")
	}
	if got := getOn(t, held[0]); got != 200 {
		t.Fatalf("held connection after refusals: status %d, want 200", got)
	}
	held[0].Close()
	// The server sees the close asynchronously: poll for a served request.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c := dialFrom(t, "127.0.0.1", st.addr)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil && resp.StatusCode == 200 {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no connection served 20s after one closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// emfileChild is set in the environment of the child process of
// TestAcceptEMFILE.
const emfileChild = "PORTCULLIS_TEST_EMFILE_CHILD"

// TestEMFILEChild is the child process of TestAcceptEMFILE: a sidecar
// with a real upstream, limited to a few file descriptors. It prints its
// address and serves until stdin closes; if Serve returns (as it did when
// an accept error was fatal) it exits 3, as the sidecar exits on it.
func TestEMFILEChild(t *testing.T) {
	if os.Getenv(emfileChild) == "" {
		t.Skip("child process of TestAcceptEMFILE")
	}
	up := startUpstream(t)
	store := &policy.Store{}
	store.Swap(loadExample(t))
	srv, err := New(Config{Store: store, Upstream: up.addr, Audit: &memSink{}, MaxConns: 1000, MaxConnsPerIP: 1000,
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
		io.Copy(io.Discard, os.Stdin)
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
	cmd.Env = append(os.Environ(), emfileChild+"=1")
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
	go func() {
		b, _ := io.ReadAll(out)
		rest <- string(b)
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
				return
			}
			err = rerr
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request served 30s after the idle connections closed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockedBuffer is a strings.Builder safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Serve returns when its listener is closed, also for a listener that is
// not the net package's: only the close ends the accept loop.
func TestServeReturnsOnClose(t *testing.T) {
	store := &policy.Store{}
	store.Swap(loadExample(t))
	srv, err := New(Config{Store: store, Upstream: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	ln.Close()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Serve still accepting 20s after its listener closed")
	}
}

// Item 10 of issue 12: a client that trickles its headers is cut off
// after HeaderTimeout, well before ReadTimeout, while a request whose body
// is slower than HeaderTimeout still gets ReadTimeout for it.
func TestHeaderReadTimeout(t *testing.T) {
	st := startStack(t, func(c *Config) { c.HeaderTimeout, c.ReadTimeout = 300*time.Millisecond, time.Minute })
	t.Run("stalled headers", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", st.addr)
		fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: svc\r\n")
		start := time.Now()
		// Far below ReadTimeout, far above HeaderTimeout.
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		io.Copy(io.Discard, c)
		if waited := time.Since(start); waited > 25*time.Second {
			t.Fatalf("connection with stalled headers open for %v, want it closed after HeaderTimeout", waited)
		}
	})
	t.Run("slow body", func(t *testing.T) {
		c := dialFrom(t, "127.0.0.1", st.addr)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: %s\r\nContent-Length: 4\r\n\r\nab", hrisKey)
		// The client is slow on purpose: the rest of the body comes
		// after HeaderTimeout has passed.
		time.Sleep(time.Second)
		io.WriteString(c, "cd")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("slow body: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("slow body: status %d, want 200", resp.StatusCode)
		}
	})
}
