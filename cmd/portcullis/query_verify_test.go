package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
)

// audit query over a store edited after the head published outside the
// host: the edited record is flagged unverified (table and JSON), and with
// --public-key the query fails naming the problem; without a key every
// record is flagged, since nothing was checked. Before, query printed the
// edited record like any other.
func TestQueryFlagsRecordsItCannotVerify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, keyFile := filepath.Join(dir, "audit"), filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	appendToStore(t, data, keyFile, 0, 2)
	published := filepath.Join(dir, "published-head.json")
	head, err := os.ReadFile(filepath.Join(data, "head.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(published, head, 0o600); err != nil {
		t.Fatal(err)
	}
	appendToStore(t, data, keyFile, 2, 4)
	// Edit the record of batch trail-3, past the published head, in place.
	segs, _ := filepath.Glob(filepath.Join(data, "seg-*.log"))
	if len(segs) == 0 {
		t.Fatalf("no segments in %s", data)
	}
	edited := false
	for _, seg := range segs {
		b, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.SplitAfter(b, []byte("\n"))
		for i, l := range lines {
			if bytes.Contains(l, []byte(`"trail-3"`)) {
				lines[i] = bytes.Replace(l, []byte(`"acme"`), []byte(`"evil"`), 1)
				edited = true
			}
		}
		if err := os.WriteFile(seg, bytes.Join(lines, nil), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if !edited {
		t.Fatal("batch trail-3 not found in the segments")
	}

	rows := func(out string, want string) (flagged, plain int) {
		for _, l := range strings.Split(out, "\n") {
			if !strings.Contains(l, want) {
				continue
			}
			if strings.Contains(l, "unverified") {
				flagged++
			} else {
				plain++
			}
		}
		return
	}
	// Without a key nothing is checked: every record is flagged.
	r := portcullis(t, "", nil, "audit", "query", "--data", data)
	if f, p := rows(r.stdout, "evil"); f != 1 || p != 0 {
		t.Errorf("no key: the edited record is flagged %d times, shown plain %d times; want flagged\n%s", f, p, r.stdout)
	}
	if f, p := rows(r.stdout, "acme"); f != 5 || p != 0 {
		t.Errorf("no key: %d acme records flagged, %d plain; want all 5 flagged\n%s", f, p, r.stdout)
	}
	if !strings.Contains(r.stderr, "not verified") {
		t.Errorf("no key: stderr %q does not say the records are not verified", r.stderr)
	}
	// With the key: only the edited record is flagged, and query fails.
	for _, format := range []string{"table", "json"} {
		r = portcullis(t, "", nil, "audit", "query", "--data", data, "--public-key", keyFile+".pub", "--published-head", published, "--format", format)
		if r.code != 1 || !strings.Contains(r.stderr, collector.ProblemHashMismatch) {
			t.Errorf("%s: exit %d, stderr %q; want 1 naming the %s", format, r.code, r.stderr, collector.ProblemHashMismatch)
		}
		if f, p := rows(r.stdout, "evil"); f != 1 || p != 0 {
			t.Errorf("%s: the edited record is flagged %d times, shown plain %d times; want flagged\n%s", format, f, p, r.stdout)
		}
		if f, p := rows(r.stdout, "acme"); f != 0 || p != 5 {
			t.Errorf("%s: %d intact records flagged, %d plain; want none flagged\n%s", format, f, p, r.stdout)
		}
	}
}
