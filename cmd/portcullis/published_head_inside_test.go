package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
)

// TestPublishedHeadInsideTheStoreRefused: a --published-head in the
// store's own directory (its head.json, or a copy beside it) is written
// by whoever can cut the store back, so checking the store against it
// proves nothing: audit verify, audit query and evidence pack refuse it
// naming the flag and the directory. Before, verify said the store was
// intact against its own head.json (the collector's --publish-head is
// refused there at start: TestCollectorPublishHeadOutsideTheStore).
func TestPublishedHeadInsideTheStoreRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, keyFile := filepath.Join(dir, "audit"), filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	appendToStore(t, data, keyFile, 0, 2)
	head, err := os.ReadFile(filepath.Join(data, "head.json"))
	if err != nil {
		t.Fatal(err)
	}
	beside := filepath.Join(data, "published.json")
	if err := os.WriteFile(beside, head, 0o600); err != nil {
		t.Fatal(err)
	}
	// A link into the store is the store: its target is checked.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(dir, "published-head.json")
	if err := os.WriteFile(outside, head, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(data, "head.json"), beside, filepath.Join(link, "head.json")} {
		for _, args := range [][]string{
			{"audit", "verify", "--data", data, "--public-key", keyFile + ".pub", "--published-head", f},
			{"audit", "query", "--data", data, "--public-key", keyFile + ".pub", "--published-head", f},
			{"evidence", "pack", "--period", "2026-12", "--data", data, "--out", filepath.Join(dir, "out"), "--policy", examplePolicy, "--public-key", keyFile + ".pub", "--published-head", f},
		} {
			r := portcullis(t, "", nil, args...)
			if r.code == 0 || !strings.Contains(r.stderr, "--published-head "+f+" is in the store's directory") {
				t.Errorf("portcullis %s %s --published-head %s = exit %d, stderr %q; want a failure naming the flag and the store's directory", args[0], args[1], f, r.code, r.stderr)
			}
		}
	}
	// The same head kept outside the store is taken.
	if r := portcullis(t, "", nil, "audit", "verify", "--data", data, "--public-key", keyFile+".pub", "--published-head", outside); r.code != 0 {
		t.Errorf("audit verify --published-head outside the store = exit %d, stderr %q; want 0", r.code, r.stderr)
	}
}
