package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/examples/upstream"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// runInProcess starts sidecar(f) in this process with a demo upstream and
// waits until it listens; the sidecar stops when the test ends.
func runInProcess(t *testing.T, f sidecarFlags) sidecarFlags {
	t.Helper()
	f.upstream, f.listen, f.admin = freeAddr(t), freeAddr(t), freeAddr(t)
	if f.drain == 0 {
		f.drain = 5 * time.Second
	}
	up := &fasthttp.Server{Handler: upstream.Handler}
	go up.ListenAndServe(f.upstream)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sidecar(ctx, f, zerolog.Nop()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("sidecar stopped with %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("sidecar did not stop")
		}
		up.Shutdown()
	})
	poll(t, "the sidecar to listen", func() bool { return get(t, "http://"+f.admin+"/healthz", "") == 200 })
	return f
}

// body answers the status and body of GET url.
func body(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// writePolicy writes the example policy, edited by replacing old with new,
// to a file of its own.
func writePolicy(t *testing.T, old, new string) string {
	t.Helper()
	example, err := os.ReadFile("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(example), old) {
		t.Fatalf("the example policy lacks %q", old)
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(example), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Without --audit-file or --collector the sidecar serves and counts every
// record as dropped (issue 13, item 1: it used to die with a nil-pointer
// panic on its first request). In audit.mode strict it answers 503
// (no record, no service) and is not ready, saying why.
func TestSidecarWithoutAuditDestination(t *testing.T) {
	f := runInProcess(t, sidecarFlags{policyFile: writePolicy(t, "", "")})
	for range 3 {
		if got := get(t, "http://"+f.listen+"/v1/status", ""); got != 200 {
			t.Fatalf("public route: %d, want 200", got)
		}
	}
	const hris = "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"
	if got := get(t, "http://"+f.listen+"/v1/users", hris); got != 200 {
		t.Errorf("authenticated route: %d, want 200", got)
	}
	if _, m := body(t, "http://"+f.admin+"/metrics"); !strings.Contains(m, "\nportcullis_audit_dropped_total 4\n") {
		t.Errorf("metrics do not count 4 dropped records:\n%s", m)
	}
	if code, _ := body(t, "http://"+f.admin+"/readyz"); code != 200 {
		t.Errorf("/readyz %d, want 200 (best effort serves without a destination)", code)
	}

	strict := runInProcess(t, sidecarFlags{policyFile: writePolicy(t, "mode: best_effort", "mode: strict")})
	code, b := body(t, "http://"+strict.listen+"/v1/status")
	if code != 503 || !strings.Contains(b, `"error":"audit_unavailable"`) {
		t.Errorf("strict without a destination: %d %s, want 503 audit_unavailable", code, b)
	}
	code, b = body(t, "http://"+strict.admin+"/readyz")
	if code != 503 || !strings.Contains(b, "audit") {
		t.Errorf("strict /readyz: %d %q, want 503 naming the audit path", code, b)
	}
}
