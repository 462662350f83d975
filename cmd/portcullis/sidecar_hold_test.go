package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestHeldPortOutlivesTheDrain: a legacy sidecar (a regular container)
// gets SIGTERM with the app, and the kubelet kills neither before the
// grace period ends. The sidecar drained, flushed and exited, closing its
// port, and an app ignoring SIGTERM bound it and answered there past the
// sidecar until the end. With --hold-port (the injector's, in legacy
// mode) the port stays the sidecar's, answering 503, while the app's port
// accepts; once the app is gone the sidecar releases it and exits 0.
func TestHeldPortOutlivesTheDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a real process")
	}
	h := newKillHarness(t)
	app, err := net.Listen("tcp", "127.0.0.1:0") // the app, ignoring SIGTERM
	if err != nil {
		t.Fatal(err)
	}
	appSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go appSrv.Serve(app)
	t.Cleanup(func() { appSrv.Close() })
	policyFile, err := filepath.Abs("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	listen, admin := freeAddr(t), freeAddr(t)
	p := h.start("sidecar", "sidecar", "--policy", policyFile, "--listen", listen, "--upstream", app.Addr().String(),
		"--admin", admin, "--audit-file", filepath.Join(h.dir, "audit.jsonl"), "--drain-delay", "0s", "--drain", "1s", "--hold-port")
	h.serving("the sidecar", "http://"+admin+"/readyz")
	p.cmd.Process.Signal(syscall.SIGTERM)
	h.until("the audit flushed", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(h.dir, "sidecar.log"))
		return strings.Contains(string(b), "holding the listen port") || strings.Contains(string(b), `"stopped"`), "log: " + tail(string(b), 300)
	})
	select {
	case <-p.done:
		t.Fatalf("the sidecar exited (%v) while the app still runs; want it holding its port", p.err)
	default:
	}
	if ln, err := net.Listen("tcp", listen); err == nil {
		ln.Close()
		t.Fatalf("after the sidecar's drain, with the app still running, the app bound the sidecar's port %s; want it still the sidecar's", listen)
	}
	if code := h.status("http://" + listen + "/v1/status"); code != http.StatusServiceUnavailable {
		t.Errorf("a request to the held port: status %d, want 503", code)
	}

	appSrv.Close() // the app exits
	select {
	case <-p.done:
	case <-time.After(killWait):
		t.Fatal("the sidecar did not exit once the app was gone")
	}
	if p.err != nil {
		t.Errorf("the sidecar exited with %v, want 0", p.err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("the port after the sidecar exited: %v", err)
	}
	ln.Close()
}

// Finding (read86): the held port wrote its 503 as soon as it accepted a
// connection and closed it, the request unread. A client whose request
// was not yet written took the 503 for a response it had not asked for
// (Go's client: "Unsolicited response received on idle HTTP channel"),
// and one whose request was in closed on unread bytes and was reset: on
// about one request in ten the client saw a connection error, not the
// 503 the docs promise (and TestHeldPortOutlivesTheDrain's one request
// could so fail).

// TestHeldPortAnswers503 runs holdPort in front of a real app listener
// and sends it real requests, with and without a body: each must read a
// 503. Once the app's port refuses, holdPort returns.
func TestHeldPortAnswers503(t *testing.T) {
	app, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	go func() {
		for {
			c, err := app.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	released := make(chan struct{})
	go func() { holdPort(ln, app.Addr().String(), nil, holdAnswerTime, zerolog.Nop()); close(released) }()
	body := strings.Repeat("b", 64<<10)
	failed := 0
	for i := range 200 {
		var r io.Reader
		method := http.MethodGet
		if i%2 == 1 {
			method, r = http.MethodPost, strings.NewReader(body)
		}
		req, err := http.NewRequest(method, "http://"+ln.Addr().String()+"/v1/status", r)
		if err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
			if failed++; failed <= 3 {
				t.Errorf("%s %d to the held port: %v; want 503", method, i, orStatus(resp, err))
			}
		}
	}
	if failed > 3 {
		t.Errorf("%d of 200 requests to the held port read no 503", failed)
	}
	app.Close() // the app is gone
	<-released
}

func orStatus(resp *http.Response, err error) any {
	if err != nil {
		return err
	}
	return resp.Status
}

// TestHeldPortAnswersBounded: each connection to the held port is
// answered on a goroutine of its own for up to holdAnswerTime, so a
// flood of connections that send nothing would grow the sidecar until
// it was killed for its memory, which releases the port to the app. At
// most maxHeldAnswers are answered at once; a connection past them is
// closed as it comes, not held.
func TestHeldPortAnswersBounded(t *testing.T) {
	app, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	go func() {
		for {
			c, err := app.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	released := make(chan struct{})
	// A minute for each answer: the idle connections stay answered.
	go func() { holdPort(ln, app.Addr().String(), nil, time.Minute, zerolog.Nop()); close(released) }()
	defer func() { app.Close(); <-released }()
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range maxHeldAnswers {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	// Past the bound a connection is closed unanswered; until the idle
	// ones are all taken up a new one may still be answered, so try a few.
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Read(make([]byte, 1))
		c.Close()
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			break // closed as it came
		}
		if i == 3 {
			t.Fatalf("with %d connections to the held port answering, one more was held too (%v); want it closed as it comes", maxHeldAnswers, err)
		}
	}
}
