// Command demo walks through what the sidecar enforces, on screen: it
// starts the demo service and a sidecar with examples/policy.yaml, sends
// requests a person can follow (allowed, no key, wrong scope, revoked key,
// privileged, wrong network, too large, rate limited) and shows each
// status, the error body and the audit record. `make demo` runs it.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Demo keys from examples/policy.yaml; their secrets are public on purpose.
const (
	hrisKey    = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"
	adminKey   = "pk_acmeadm1_DemoAcmeAdminSecret00000000000000001"
	revokedKey = "pk_revoked1_DemoRevokedSecret00000000000000000001"
)

const (
	sidecarAddr  = "127.0.0.1:18080"
	upstreamAddr = "127.0.0.1:18081"
	adminAddr    = "127.0.0.1:19901"
)

func main() {
	bin := flag.String("bin", "bin/portcullis", "portcullis `binary`")
	flag.Parse()
	if err := run(*bin); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(bin string) error {
	dir, err := os.MkdirTemp("", "portcullis-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	auditFile := filepath.Join(dir, "audit.jsonl")
	up, err := start(bin, "upstream", "--listen", upstreamAddr)
	if err != nil {
		return err
	}
	defer stop(up)
	sc, err := start(bin, "sidecar", "--policy", "examples/policy.yaml", "--listen", sidecarAddr,
		"--upstream", upstreamAddr, "--admin", adminAddr, "--audit-file", auditFile, "--log-level", "warn")
	if err != nil {
		return err
	}
	defer stop(sc)
	if err := waitReady("http://" + adminAddr + "/readyz"); err != nil {
		return err
	}
	fmt.Printf("sidecar on %s in front of the demo service on %s (policy examples/policy.yaml)\n", sidecarAddr, upstreamAddr)
	audit := &tail{path: auditFile}
	for _, s := range steps() {
		if err := s.run(audit); err != nil {
			return err
		}
	}
	fmt.Println("\n== shutting down with SIGTERM: in-flight requests finish, audit is flushed")
	return stop(sc)
}

// step is one request of the walkthrough.
type step struct {
	title, method, path string
	headers             map[string]string
	body                string
	repeat              int // send this many times, show the last
}

func steps() []step {
	key := func(k string) map[string]string { return map[string]string{"X-API-Key": k} }
	return []step{
		{title: "allowed: acme-hris reads a user", method: "GET", path: "/v1/users/42", headers: key(hrisKey)},
		{title: "no key: default deny", method: "GET", path: "/v1/users/42"},
		{title: "wrong scope: acme-hris has no read:reports", method: "GET", path: "/v1/reports/7", headers: key(hrisKey)},
		{title: "revoked key: same 401 as any bad credential", method: "GET", path: "/v1/users", headers: key(revokedKey)},
		{title: "privileged allowed: admin settings from 127.0.0.1", method: "PUT", path: "/v1/admin/settings", headers: key(adminKey), body: `{"sso":"on"}`},
		{title: "privileged from the wrong network: integrations need 10.0.0.0/8", method: "POST", path: "/v1/integrations", headers: key(adminKey)},
		{title: "path trick: ../ is resolved before the route check", method: "PUT", path: "/v1/users/%2e%2e/admin/settings", headers: key(hrisKey)},
		{title: "too large: 100 KiB to a 64 KiB bulk endpoint", method: "POST", path: "/v1/exports", headers: key(adminKey), body: strings.Repeat("x", 100<<10)},
		{title: "rate limited: acme-hris sends 12 requests at 5/s burst 10", method: "GET", path: "/v1/users", headers: key(hrisKey), repeat: 12},
	}
}

func (s step) run(audit *tail) error {
	fmt.Printf("\n== %s\n$ %s %s\n", s.title, s.method, s.path)
	var resp *http.Response
	var body []byte
	for i := 0; i < max(s.repeat, 1); i++ {
		req, err := http.NewRequest(s.method, "http://"+sidecarAddr+s.path, strings.NewReader(s.body))
		if err != nil {
			return err
		}
		for k, v := range s.headers {
			req.Header.Set(k, v)
		}
		if resp, err = http.DefaultClient.Do(req); err != nil {
			return fmt.Errorf("%s %s: %w", s.method, s.path, err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	fmt.Printf("-> %s\n", resp.Status)
	for _, h := range []string{"Retry-After", "RateLimit-Policy", "RateLimit"} {
		if v := resp.Header.Get(h); v != "" {
			fmt.Printf("   %s: %s\n", h, v)
		}
	}
	fmt.Printf("   body:  %s\n", strings.TrimSpace(string(body)))
	time.Sleep(150 * time.Millisecond) // the audit writer is asynchronous
	fmt.Printf("   audit: %s\n", audit.last())
	return nil
}

// tail reads the last line of the audit file.
type tail struct{ path string }

func (t *tail) last() string {
	f, err := os.Open(t.path)
	if err != nil {
		return "(no audit file yet)"
	}
	defer f.Close()
	var line string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line = sc.Text()
	}
	return line
}

func start(bin string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s %s: %w", bin, args[0], err)
	}
	return cmd, nil
}

func stop(cmd *exec.Cmd) error {
	if cmd.ProcessState != nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		return fmt.Errorf("%s did not stop on SIGTERM", cmd.Path)
	}
}

func waitReady(url string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("sidecar not ready at %s", url)
}
