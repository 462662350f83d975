package main

import (
	"context"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/examples/upstream"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// --pprof serves the Go profiles on the admin listener, and only there;
// without it /debug/pprof/ is 404 (issue 18: pprof behind an admin flag
// that is off by default).
func TestSidecarPprofFlag(t *testing.T) {
	upAddr := freeAddr(t)
	up := &fasthttp.Server{Handler: upstream.Handler}
	go up.ListenAndServe(upAddr)
	t.Cleanup(func() { up.Shutdown() })

	for _, c := range []struct {
		args      []string
		index     int    // status of the admin's /debug/pprof/
		indexHas  string // in its body
		heapCheck bool
	}{
		{args: nil, index: 404},
		{args: []string{"--pprof"}, index: 200, indexHas: "heap", heapCheck: true},
	} {
		t.Run(strings.Join(append([]string{"args"}, c.args...), " "), func(t *testing.T) {
			f := pprofSidecar(t, upAddr, c.args)
			status, body := fetchPprof(t, "http://"+f.admin+"/debug/pprof/")
			if status != c.index || !strings.Contains(body, c.indexHas) {
				t.Errorf("admin /debug/pprof/: %d %.80q; want %d with %q", status, body, c.index, c.indexHas)
			}
			if c.heapCheck {
				if status, body := fetchPprof(t, "http://"+f.admin+"/debug/pprof/heap?debug=1"); status != 200 || !strings.Contains(body, "heap profile") {
					t.Errorf("admin /debug/pprof/heap?debug=1: %d %.80q; want 200 and a heap profile", status, body)
				}
			}
			// The data listener routes by the policy, whatever the flag.
			if status, body := fetchPprof(t, "http://"+f.listen+"/debug/pprof/"); status != 404 || !strings.Contains(body, `"error"`) {
				t.Errorf("data listener /debug/pprof/: %d %.80q; want the policy's 404", status, body)
			}
		})
	}
}

// pprofSidecar starts a sidecar with the example policy and args parsed by
// the sidecar's flag set, and waits until it is ready.
func pprofSidecar(t *testing.T, upAddr string, args []string) sidecarFlags {
	t.Helper()
	var f sidecarFlags
	fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
	f.register(fs)
	base := []string{"--policy", "../../examples/policy.yaml", "--upstream", upAddr, "--listen", freeAddr(t), "--admin", freeAddr(t),
		"--spool", t.TempDir(), "--state-dir", t.TempDir(), "--drain-delay", "0s"}
	if err := fs.Parse(append(base, args...)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sidecar(ctx, f, zerolog.Nop()) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("sidecar did not stop")
		}
	})
	poll(t, "readiness", func() bool { return get(t, "http://"+f.admin+"/readyz", "") == 200 })
	return f
}

// fetchPprof GETs url and returns the status and body.
func fetchPprof(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
