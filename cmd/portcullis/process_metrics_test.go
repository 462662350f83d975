package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/promtool"
)

// The collector and the injector served no go_* or process_* family (the
// injector no /metrics at all): one nearing its memory limit showed
// nothing before it was killed. Both commands, run as the binary runs
// them, now serve the sidecar's families on --metrics-listen, and the
// page passes promtool check metrics.
func TestCollectorAndInjectorServeProcessMetrics(t *testing.T) {
	t.Parallel()
	promtool.Path(t)
	dir := t.TempDir()
	key, _ := signingKeyFile(t)
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("s1 0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pki := newTestPKI(t)
	collectorMetrics, injectorMetrics := freeAddr(t), freeAddr(t)
	startChild(t, "", nil, true, "collector", "--data", filepath.Join(dir, "data"), "--signing-key", key, "--token-file", tokens,
		"--listen", "127.0.0.1:0", "--metrics-listen", collectorMetrics)
	startChild(t, "", nil, true, "injector", "--listen", "127.0.0.1:0", "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey,
		"--metrics-listen", injectorMetrics)
	for _, c := range []struct{ name, addr string }{{"collector", collectorMetrics}, {"injector", injectorMetrics}} {
		t.Run(c.name, func(t *testing.T) {
			var page string
			pollUntil(t, obsWait, c.name+"'s /metrics", func() (bool, string) {
				resp, err := http.Get("http://" + c.addr + "/metrics")
				if err != nil {
					return false, err.Error()
				}
				resp.Body.Close()
				return resp.StatusCode == 200, resp.Status
			})
			_, page = body(t, "http://"+c.addr+"/metrics")
			names := sampleNames(page)
			for _, want := range []string{"go_memstats_heap_alloc_bytes", "go_memstats_sys_bytes", "go_gc_gomemlimit_bytes", "go_goroutines",
				"process_resident_memory_bytes", "process_open_fds"} {
				if !names[want] {
					t.Errorf("%s's /metrics has no %s", c.name, want)
				}
			}
			if strings.Count(page, "# TYPE go_goroutines ") != 1 {
				t.Errorf("%s's /metrics writes go_goroutines %d times, want once", c.name, strings.Count(page, "# TYPE go_goroutines "))
			}
			promtool.CheckMetrics(t, []byte(page))
		})
	}
}
