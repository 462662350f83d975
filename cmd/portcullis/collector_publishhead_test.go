package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A --publish-head FILE in a directory that does not exist (a typo, a
// mount not there) started the collector, which then logged the failure
// every round and said so only on /readyz (read100): the anchor the
// operator asked for was never written. It is a usage error naming the
// directory, as is a directory that is a file.
func TestCollectorPublishHeadDirectoryChecked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile, _ := signingKeyFile(t)
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("sidecar-a "+strings.Repeat("t", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// With a key and a token file, the collector started before (and
	// ran until portcullisWithin's 20 s were up).
	base := []string{"collector", "--data", filepath.Join(dir, "data"), "--signing-key", keyFile, "--token-file", tokens, "--listen", "127.0.0.1:0"}
	for _, head := range []string{filepath.Join(dir, "nonexistent", "head"), filepath.Join(file, "head")} {
		args := append(append([]string(nil), base...), "--publish-head", head)
		r := portcullisWithin(t, 20e9, args...)
		if want := "--publish-head " + head + ": directory " + filepath.Dir(head); r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("portcullis %s = exit %d, stderr %q; want exit 2 and %q", strings.Join(args, " "), r.code, r.stderr, want)
		}
	}
}

// A --publish-head FILE in the store's --data directory (its own
// head.json, or another name beside it, or through a link to it) was
// taken: the anchor that finds the store cut back or put back from a copy
// was then in the hands of whoever writes the data directory, the
// adversary it is there against, and the start's anchor check compared
// the store with itself. It is a usage error naming both.
func TestCollectorPublishHeadOutsideTheStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "anchors")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(data, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	keyFile, _ := signingKeyFile(t)
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("sidecar-a "+strings.Repeat("t", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"collector", "--data", data, "--signing-key", keyFile, "--token-file", tokens, "--listen", "127.0.0.1:0"}
	for _, head := range []string{filepath.Join(data, "head.json"), filepath.Join(data, "published.json"), filepath.Join(link, "head"), filepath.Join(data, "sub", "head")} {
		args := append(append([]string(nil), base...), "--publish-head", head)
		r := portcullisWithin(t, 5e9, args...)
		if want := "--publish-head " + head + ": "; r.code != 2 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "--data") {
			t.Errorf("portcullis %s = exit %d, stderr %q; want exit 2 and %q naming --data", strings.Join(args, " "), r.code, r.stderr, want)
		}
	}
}
