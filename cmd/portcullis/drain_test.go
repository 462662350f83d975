package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// drainResult is what one client of the drain test saw.
type drainResult struct {
	mu       sync.Mutex // guards the following fields
	ok       int
	failures []string
}

func (r *drainResult) add(status int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil:
		r.failures = append(r.failures, "connection error: "+err.Error())
	case status >= 500:
		r.failures = append(r.failures, fmt.Sprintf("status %d", status))
	default:
		r.ok++
	}
}

// slowUpstream is the service behind the sidecar: it answers at once,
// or after delay for a request with ?slow=1.
func slowUpstream(t *testing.T, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("slow") == "1" {
			time.Sleep(delay)
		}
		io.WriteString(w, "ok\n")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// Clients sending continuously through a SIGTERM to a real sidecar
// process see no connection error and no 5xx (issue 13, item 5): /readyz
// goes 503 first, the listener keeps accepting for --drain-delay (the
// default, 5s) while the clients, like endpoints being updated, go on
// for a second after they see it, a request in flight when the listener
// closes still gets its answer, and the process exits 0. Before, the
// listener closed at once and requests on kept-alive connections got 503.
func TestSigtermDrainsWithoutErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a real process")
	}
	const grace, slow = time.Second, 7 * time.Second
	h := newKillHarness(t)
	policyFile, err := filepath.Abs("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	listen, admin := freeAddr(t), freeAddr(t)
	p := h.start("sidecar", "sidecar", "--policy", policyFile, "--listen", listen, "--upstream", slowUpstream(t, slow),
		"--admin", admin, "--audit-file", filepath.Join(h.dir, "audit.jsonl"), "--log-level", "info")
	h.until("readiness", func() (bool, string) {
		code := h.status("http://" + admin + "/readyz")
		return code == http.StatusOK, fmt.Sprintf("/readyz %d", code)
	})

	var stop atomic.Bool
	var res drainResult
	var wg sync.WaitGroup
	client := func(keepAlive bool) {
		defer wg.Done()
		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: !keepAlive}}
		defer c.CloseIdleConnections()
		for !stop.Load() {
			resp, err := c.Get("http://" + listen + "/v1/status")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				res.add(resp.StatusCode, nil)
				continue
			}
			res.add(0, err)
		}
	}
	for i := range 4 {
		wg.Add(1)
		go client(i%2 == 0) // two on kept-alive connections, two on a new connection per request
	}
	h.until("requests flowing", func() (bool, string) {
		res.mu.Lock()
		defer res.mu.Unlock()
		return res.ok >= 50, fmt.Sprintf("%d answered", res.ok)
	})

	p.cmd.Process.Signal(syscall.SIGTERM)
	h.until("/readyz 503 after SIGTERM", func() (bool, string) {
		code := h.status("http://" + admin + "/readyz")
		return code == http.StatusServiceUnavailable, fmt.Sprintf("/readyz %d", code)
	})
	time.Sleep(grace) // the clients go on, as they would until endpoints drop the pod
	// A slow request in flight when the drain delay ends: it is answered.
	slowDone := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + listen + "/v1/status?slow=1")
		if err != nil {
			slowDone <- "connection error: " + err.Error()
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		slowDone <- fmt.Sprint("status ", resp.StatusCode)
	}()
	stop.Store(true)
	wg.Wait()

	select {
	case <-p.done:
	case <-time.After(killWait):
		t.Fatal("the sidecar did not exit after SIGTERM")
	}
	if p.err != nil {
		t.Errorf("the sidecar exited with %v, want 0", p.err)
	}
	if got := <-slowDone; got != "status 200" {
		t.Errorf("the request in flight through the drain: %s, want status 200", got)
	}
	t.Logf("%d requests answered through the SIGTERM", res.ok)
	for i, f := range res.failures {
		if i == 10 {
			t.Errorf("... %d failures in all", len(res.failures))
			break
		}
		t.Errorf("request failed: %s", f)
	}
}
