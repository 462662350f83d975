package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/portcullis/portcullis/collector"
)

// A run of real entries copied in again (two lines of a segment written
// after themselves) counted twice: the copy's first entry failed its
// link, and the second linked to it and followed its seq, signed by the
// collector, so audit verify counted its batch twice and tenants top its
// requests. An entry whose seq an entry already counted now fails (a
// copy), listed as a sequence gap.
func TestCopiedEntriesCountOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, keyFile := filepath.Join(dir, "audit"), filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	const n = 12
	appendToStore(t, data, keyFile, 0, n)
	segs, err := filepath.Glob(filepath.Join(data, "seg-*.log"))
	if err != nil || len(segs) < 2 {
		t.Fatalf("want two segments or more in %s: %v", data, err)
	}
	sort.Strings(segs)
	path := segs[len(segs)-1]
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(orig, []byte("\n"))
	lines = lines[:len(lines)-1]
	if len(lines) < 3 {
		t.Fatalf("%s holds %d entries; want 3 or more", path, len(lines))
	}
	lines = slices.Insert(lines, 2, lines[0], lines[1])
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}

	r := portcullis(t, "", nil, "audit", "verify", "--data", data, "--public-key", keyFile+".pub", "--json")
	var rep struct {
		Batches, Records, Unverified int
		Problems                     []collector.Problem
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 {
		t.Fatalf("audit verify --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if rep.Batches != n || rep.Records != n || rep.Unverified != 2 {
		t.Errorf("audit verify: %d batches, %d records, %d unverified; want the %d real ones counted once and the 2 copies unverified\n%v", rep.Batches, rep.Records, rep.Unverified, n, rep.Problems)
	}
	r = portcullis(t, "", nil, "tenants", "top", "--data", data, "--public-key", keyFile+".pub", "--format", "json")
	var top struct {
		Requests, Unverified int64
	}
	if err := json.Unmarshal([]byte(r.stdout), &top); err != nil || r.code != 1 {
		t.Fatalf("tenants top: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if top.Requests != n || top.Unverified != 2 {
		t.Errorf("tenants top: %+v; want the %d real requests counted once, the 2 copies unverified", top, n)
	}
}
