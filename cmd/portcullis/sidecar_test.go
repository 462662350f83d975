package main

import (
	"bufio"
	"context"
	"encoding/json"

	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/examples/upstream"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	return freeAddrTB(t)
}

func get(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// The sidecar in file mode: SIGHUP reloads (a bad file keeps the policy in
// force), and stopping drains, flushes the audit file and returns cleanly.
func TestSidecarReloadAndShutdown(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, example, 0o600); err != nil {
		t.Fatal(err)
	}
	upAddr := freeAddr(t)
	up := &fasthttp.Server{Handler: upstream.Handler}
	go up.ListenAndServe(upAddr)
	defer up.Shutdown()

	f := sidecarFlags{policyFile: policyFile, listen: freeAddr(t), upstream: upAddr, admin: freeAddr(t),
		auditFile: filepath.Join(dir, "audit.jsonl"), drain: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sidecar(ctx, f, zerolog.Nop()) }()
	sent := 0
	call := func(path, key string) int { sent++; return get(t, "http://"+f.listen+path, key) }
	poll(t, "readiness", func() bool { return get(t, "http://"+f.admin+"/readyz", "") == 200 })

	const hris = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"
	if got := call("/v1/users", hris); got != 200 {
		t.Fatalf("before reload: %d, want 200", got)
	}
	// Revoke the key in the file and reload.
	revoked := strings.Replace(string(example), "  - id: acmehris1\n", "  - id: acmehris1\n    revoked: true\n", 1)
	os.WriteFile(policyFile, []byte(revoked), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	poll(t, "the reloaded policy", func() bool { return call("/v1/users", hris) == 401 })

	// A broken file is refused; the policy in force stays.
	os.WriteFile(policyFile, []byte("version: 1\nbogus: true\n"), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	poll(t, "the refusal to be counted", func() bool {
		resp, err := http.Get("http://" + f.admin + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "portcullis_policy_compile_failures_total 1")
	})
	if got := call("/v1/users", hris); got != 401 {
		t.Errorf("after a bad reload: %d, want 401 from the policy still in force", got)
	}
	if got := call("/v1/status", ""); got != 200 {
		t.Errorf("public route after a bad reload: %d", got)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sidecar stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("sidecar did not stop")
	}
	if g := goroutinesOf("main.serve", "main.watchPolicyFile"); g != "" {
		t.Errorf("goroutines of the sidecar still running after it returned:\n%s", g)
	}
	lines := readLines(t, f.auditFile)
	if len(lines) != sent {
		t.Errorf("audit file has %d records, want one per request: %d", len(lines), sent)
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("audit line %q: %v", l, err)
		}
		if strings.Contains(l, "DemoAcmeHris") {
			t.Errorf("audit line holds the key: %s", l)
		}
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
