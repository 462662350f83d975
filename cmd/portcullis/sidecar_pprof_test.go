package main

import (
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// --pprof serves the Go profiles on the admin listener, and only there;
// without it /debug/pprof/ is 404 (issue 18: pprof behind an admin flag
// that is off by default).
func TestSidecarPprofFlag(t *testing.T) {
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
			f := pprofSidecar(t, c.args)
			status, page := body(t, "http://"+f.admin+"/debug/pprof/")
			if status != c.index || !strings.Contains(page, c.indexHas) {
				t.Errorf("admin /debug/pprof/: %d %.80q; want %d with %q", status, page, c.index, c.indexHas)
			}
			if c.heapCheck {
				if status, page := body(t, "http://"+f.admin+"/debug/pprof/heap?debug=1"); status != 200 || !strings.Contains(page, "heap profile") {
					t.Errorf("admin /debug/pprof/heap?debug=1: %d %.80q; want 200 and a heap profile", status, page)
				}
			}
			// The data listener routes by the policy, whatever the flag.
			if status, page := body(t, "http://"+f.listen+"/debug/pprof/"); status != 404 || !strings.Contains(page, `"error"`) {
				t.Errorf("data listener /debug/pprof/: %d %.80q; want the policy's 404", status, page)
			}
		})
	}
}

// pprofSidecar starts a sidecar (runInProcess) with the example policy
// and args parsed by the sidecar's flag set.
func pprofSidecar(t *testing.T, args []string) sidecarFlags {
	t.Helper()
	var f sidecarFlags
	fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
	f.register(fs)
	base := []string{"--policy", "../../examples/policy.yaml", "--spool", t.TempDir(), "--state-dir", t.TempDir(), "--drain-delay", "1ms"}
	if err := fs.Parse(append(base, args...)); err != nil {
		t.Fatal(err)
	}
	return runInProcess(t, f)
}

// net/http/pprof refuses a profile or trace longer than its server's write
// timeout; behind fasthttp's adaptor it knows no server and took any
// ?seconds=: profile?seconds=86400 held the CPU profiler for a day (every
// later profile answered 500, "cpu profiling already in use", with no way
// to stop it but a restart, the client gone or not) and trace?seconds=86400
// buffered a day of execution trace in the sidecar's memory. A duration
// over pprofMaxSeconds is now refused with 400 at once.
func TestSidecarPprofRefusesLongProfiles(t *testing.T) {
	f := pprofSidecar(t, []string{"--pprof"})
	client := &http.Client{Timeout: 30 * time.Second}
	for _, path := range []string{"/debug/pprof/profile?seconds=86400", "/debug/pprof/trace?seconds=86400"} {
		resp, err := client.Get("http://" + f.admin + path)
		if err != nil {
			t.Errorf("GET %s: %v; want 400 at once", path, err)
			continue
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(page), "seconds") {
			t.Errorf("GET %s: %d %.80q; want 400 naming seconds", path, resp.StatusCode, page)
		}
	}
	// A short profile is still served.
	if status, page := body(t, "http://"+f.admin+"/debug/pprof/profile?seconds=1"); status != 200 {
		t.Errorf("GET /debug/pprof/profile?seconds=1: %d %.80q; want 200", status, page)
	}
}
