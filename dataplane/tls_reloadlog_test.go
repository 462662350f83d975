package dataplane

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// Bad TLS files (a renewal that wrote a certificate without its key) were
// logged as an error at every --tls-reload tick, for as long as they
// stayed bad: every second with --tls-reload 1s. Now the failure is
// logged once, and the files loading again once, at info.
func TestTLSReloadFailureLoggedOnce(t *testing.T) {
	ca := newAuthority(t, "server CA")
	first, second := ca.issue(t, "sidecar", nil, true), ca.issue(t, "sidecar", nil, true)
	files := tlsFiles(t, first, nil)
	logs := &syncBuffer{}
	r, err := newCertReloader(*files, zerolog.New(logs), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	count := func(msg string) int { return strings.Count(logs.String(), msg) }
	const failed, recovered = "TLS files changed but cannot be loaded", "TLS files load again"

	writeFile(t, files.CertFile, second.certPEM) // the key is still the first's: no pair
	pollUntil(t, "several reload ticks over the mismatched pair", func() (bool, string) {
		n := r.failed.Load()
		return n >= 5, fmt.Sprintf("%d failed loads", n)
	})
	if n := count(failed); n != 1 {
		t.Errorf("%d error lines over %d ticks of the same bad files, want 1:\n%s", n, r.failed.Load(), logs)
	}

	writeFile(t, files.KeyFile, second.keyPEM)
	pollUntil(t, "the repaired pair loads", func() (bool, string) {
		return r.reloaded.Load() == 1, logs.String()
	})
	if n := count(recovered); n != 1 {
		t.Errorf("%d recovery lines, want 1:\n%s", n, logs)
	}
	if n := count(failed); n != 1 {
		t.Errorf("%d error lines after the repair, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), `"level":"info"`) {
		t.Errorf("no info line:\n%s", logs)
	}
}
