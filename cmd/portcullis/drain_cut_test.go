package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// hungUpstream is a service that takes every request and never answers
// one until the test ends; got receives each request as it arrives.
func hungUpstream(t *testing.T) (addr string, got <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	arrived := make(chan string, 16)
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.Header.Get("X-Request-ID")
		<-release
		io.WriteString(w, "late\n")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { close(release); srv.Close() })
	return ln.Addr().String(), arrived
}

// TestDrainCutRequestIsAudited: a request admitted and forwarded to a
// service that does not answer within --drain is cut when the sidecar
// stops. Its audit record must still be written: the decision was made
// and the service got the request. Its upstream connection is cut, so it
// is answered 502 and audited before the sink is flushed. Before, the
// sidecar flushed the audit sink and exited with the handler still
// waiting on the service: the client's connection was dropped without an
// answer (EOF), and the request was in no record, metric or log line
// beyond "drain did not finish".
func TestDrainCutRequestIsAudited(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a real process")
	}
	h := newKillHarness(t)
	policyFile, err := filepath.Abs("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	upstream, arrived := hungUpstream(t)
	listen, admin := freeAddr(t), freeAddr(t)
	auditFile := filepath.Join(h.dir, "audit.jsonl")
	p := h.start("sidecar", "sidecar", "--policy", policyFile, "--listen", listen, "--upstream", upstream,
		"--admin", admin, "--audit-file", auditFile, "--drain-delay", "0s", "--drain", "1s", "--log-level", "info")
	h.until("readiness", func() (bool, string) {
		code := h.status("http://" + admin + "/readyz")
		return code == http.StatusOK, fmt.Sprintf("/readyz %d", code)
	})

	const id = "drain-cut-1"
	answered := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+listen+"/v1/status", nil)
		req.Header.Set("X-Request-ID", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- "connection error: " + err.Error()
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answered <- fmt.Sprint("status ", resp.StatusCode)
	}()
	if got := <-arrived; got != id {
		t.Fatalf("the service got request %q, want %q", got, id)
	}
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Errorf("the sidecar exited with %v, want 0", err)
	}
	if got := <-answered; got != "status 502" {
		t.Errorf("the client of the cut request saw %s, want status 502", got)
	}
	b, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"request_id":"`+id+`"`) {
		t.Errorf("no audit record of request %s, forwarded and cut by the drain; the audit file holds:\n%s", id, tail(string(b), 2000))
	}
}
