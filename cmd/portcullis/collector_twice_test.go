package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// A second collector on the --data of a running one started and served:
// each had rebuilt the chain head at start and appended after it, both
// writing entries of the same sequence numbers into one chain. The second
// now fails at start naming the store in use and what to do.
func TestCollectorTwiceOnOneStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile, tokenFile, data := filepath.Join(dir, "signing.key"), filepath.Join(dir, "tokens"), filepath.Join(dir, "data")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte("sidecar-a twice-test-collector-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := func() []string {
		return []string{"collector", "--listen", freeAddr(t), "--data", data, "--signing-key", keyFile, "--token-file", tokenFile}
	}
	out := startChild(t, "", nil, true, args()...)
	poll(t, "the first collector to listen", func() bool { return strings.Contains(out.String(), "collector listening") })
	r := portcullisWithin(t, 10*time.Second, args()...)
	if want := "is in use by another process"; r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, data) {
		t.Errorf("a second collector on %s = exit %d, stderr %q; want exit 1 naming the store and saying it %s", data, r.code, r.stderr, want)
	}
}
