package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/portcullis/portcullis/collector"
)

// editHashBeforeLast changes, in the newest segment of the store in dir,
// the stored hash (the line's "hash" field) of the entry before the last,
// its body and signature left as the collector wrote them.
func editHashBeforeLast(t *testing.T, dir string) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segments in %s: %v", dir, err)
	}
	sort.Strings(segs)
	path := segs[len(segs)-1]
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	lines = lines[:len(lines)-1] // after the last newline
	if len(lines) < 2 {
		t.Fatalf("%s holds %d entries; want 2 or more", path, len(lines))
	}
	line := lines[len(lines)-2]
	i := bytes.Index(line, []byte(`"hash":"`)) + len(`"hash":"`)
	if i < len(`"hash":"`) {
		t.Fatalf("no hash in %q", line)
	}
	if line[i] == '0' {
		line[i] = '1'
	} else {
		line[i] = '0'
	}
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

// One edit of a line's stored hash, its body and signature intact, made
// two entries fail: the edited one and the real, signed one after it,
// whose prev names the hash the collector wrote, not the edited one.
// audit verify counted that entry unverified, out of its batches and
// records, and tenants top and incident assess left its requests out.
// The entry after now passes its link when its prev is what the entry
// before hashes to (chainCursor.judge): the edit fails one entry.
func TestEditedHashFailsOneEntry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, keyFile := filepath.Join(dir, "audit"), filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	appendToStore(t, data, keyFile, 0, 3)
	editHashBeforeLast(t, data)

	r := portcullis(t, "", nil, "audit", "verify", "--data", data, "--public-key", keyFile+".pub", "--json")
	var rep struct {
		Batches, Records, Unverified int
		Problems                     []collector.Problem
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 {
		t.Fatalf("audit verify --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if rep.Batches != 2 || rep.Records != 2 || rep.Unverified != 1 {
		t.Errorf("audit verify: %d batches, %d records, %d unverified; want the 2 entries not edited counted and the edited one, 1, unverified\n%v", rep.Batches, rep.Records, rep.Unverified, rep.Problems)
	}

	r = portcullis(t, "", nil, "tenants", "top", "--data", data, "--public-key", keyFile+".pub", "--format", "json")
	var top struct {
		Requests, Unverified int64
	}
	if err := json.Unmarshal([]byte(r.stdout), &top); err != nil || r.code != 1 {
		t.Fatalf("tenants top: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if top.Requests != 2 || top.Unverified != 1 {
		t.Errorf("tenants top: %+v; want the 2 requests not edited counted, the edited one, 1, unverified", top)
	}
}
