package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGHUP, which a closing terminal sends, killed portcullis dev at once
// (its default action, exit 129): the sidecar's records not yet sent to
// the collector were lost and the store's head not signed at close. dev
// now stops on it as on Ctrl-C, drained.
func TestDevStopsDrainedOnHangup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	args := devArgs(t, "--data", data)
	listen, admin := args[len(args)-7], args[len(args)-3]
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperPortcullis$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	poll(t, "the dev stack", func() bool {
		select {
		case <-exited:
			t.Fatalf("dev stopped while starting:\n%s", out.String())
		default:
		}
		return get(t, "http://"+admin+"/readyz", "") == http.StatusOK
	})
	const id = "hangup-probe-7d1e"
	req, _ := http.NewRequest("GET", "http://"+listen+"/v1/users", nil)
	req.Header.Set("X-Request-Id", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v1/users without a credential = %d, want 401", resp.StatusCode)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("dev did not stop within 60 s of SIGHUP:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("dev on SIGHUP = exit %d (%v), want 0, stopped drained:\n%s", code, cmd.ProcessState, out.String())
	}
	store := filepath.Join(data, "audit")
	if r := portcullis(t, "", nil, "audit", "query", "--data", store, "--format", "json"); r.code != 0 || !strings.Contains(r.stdout, id) {
		t.Errorf("audit query after dev stopped on SIGHUP = exit %d, stderr %q; want the record of request %s:\n%s", r.code, r.stderr, id, r.stdout)
	}
	if r := portcullis(t, "", nil, "audit", "verify", "--data", store,
		"--public-key", filepath.Join(data, "audit-signing.key.pub"), "--published-head", filepath.Join(data, devHeadFile)); r.code != 0 {
		t.Errorf("audit verify after dev stopped on SIGHUP = exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
}
