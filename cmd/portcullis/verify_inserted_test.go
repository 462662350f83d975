package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
)

// insertForgedBeforeLast writes into the newest segment of the store in
// dir, just before its last entry (a real one, signed), a batch entry the
// collector never wrote: a copy of that entry's body naming tenant evilx,
// linked to the entry before and numbered as the next, hashed as the
// collector hashes (anyone can) and unsigned (no one without the key can
// sign it).
func insertForgedBeforeLast(t *testing.T, dir string) {
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
	last := lines[len(lines)-1]
	var l struct {
		Prev string          `json:"prev"`
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(last, &l); err != nil || !bytes.Contains(l.Body, []byte(`"acme"`)) {
		t.Fatalf("last entry %q: %v", last, err)
	}
	body := bytes.ReplaceAll(l.Body, []byte(`"acme"`), []byte(`"evilx"`))
	prev, err := hex.DecodeString(l.Prev)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write(prev)
	h.Write(body)
	forged := `{"prev":"` + l.Prev + `","hash":"` + hex.EncodeToString(h.Sum(nil)) + `","body":` + string(body) + "}\n"
	out := append(bytes.Join(lines[:len(lines)-1], nil), forged...)
	if err := os.WriteFile(path, append(out, last...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A forged line written just before a real, signed entry made that entry
// fail its link (its prev names the entry before the forged one, its seq
// repeats the forged one's): audit verify counted it unverified, out of
// its batches and records, tenants top left its requests out of the
// tenant's row and incident assess out of the client's routes, the
// forged line's word hiding the collector's. An entry that links to the
// last entry that passed, the lines between failing, now passes, as the
// collector's signature over its link says it follows that entry.
func TestForgedLineHidesNoRealEntry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, keyFile := filepath.Join(dir, "audit"), filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	appendToStore(t, data, keyFile, 0, 3)
	insertForgedBeforeLast(t, data)

	r := portcullis(t, "", nil, "audit", "verify", "--data", data, "--public-key", keyFile+".pub", "--json")
	var rep struct {
		Batches, Records, Unverified int
		Problems                     []collector.Problem
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 {
		t.Fatalf("audit verify --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if rep.Batches != 3 || rep.Records != 3 || rep.Unverified != 1 {
		t.Errorf("audit verify: %d batches, %d records, %d unverified; want the 3 real ones counted and the forged one, 1, unverified", rep.Batches, rep.Records, rep.Unverified)
	}
	r = portcullis(t, "", nil, "audit", "verify", "--data", data, "--public-key", keyFile+".pub")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "FAILED") && !strings.Contains(r.stdout, "problems") {
		t.Errorf("audit verify: exit %d\n%s\nwant 1, the report failing", r.code, r.stdout)
	}

	r = portcullis(t, "", nil, "tenants", "top", "--data", data, "--public-key", keyFile+".pub", "--format", "json")
	var top struct {
		Requests, Unverified int64
		Top                  []struct {
			Tenant   string
			Requests int64
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &top); err != nil || r.code != 1 {
		t.Fatalf("tenants top: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if top.Requests != 3 || top.Unverified != 1 || len(top.Top) != 1 || top.Top[0].Tenant != "acme" || top.Top[0].Requests != 3 {
		t.Errorf("tenants top: %+v; want acme's 3 real requests counted, the forged one, 1, unverified", top)
	}
}

// In a sealed segment kept to the size its signed digest says (the
// forged line's bytes cut from the segment's end), the forged line was
// taken as the last entry that passed, its digest not yet judged: the
// real entry after it still counted unverified in tenants top, whose
// records are judged by their own signatures.
func TestForgedLineInSealedSegmentHidesNoRealEntry(t *testing.T) {
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
	path := segs[0]
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(orig, []byte("\n"))
	lines = lines[:len(lines)-1]
	if len(lines) < 3 {
		t.Fatalf("segment 1 holds %d entries; want 3 or more", len(lines))
	}
	// Write the forged line before the second entry, through the helper
	// on a store of one segment: the first two lines.
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "seg-1.log"), bytes.Join(lines[:2], nil), 0o600); err != nil {
		t.Fatal(err)
	}
	insertForgedBeforeLast(t, tmp)
	head, err := os.ReadFile(filepath.Join(tmp, "seg-1.log"))
	if err != nil {
		t.Fatal(err)
	}
	out := append(head, bytes.Join(lines[2:], nil)...)
	if err := os.WriteFile(path, out[:len(orig)], 0o600); err != nil {
		t.Fatal(err)
	}

	r := portcullis(t, "", nil, "tenants", "top", "--data", data, "--public-key", keyFile+".pub", "--format", "json")
	var top struct {
		Requests int64
		Top      []struct {
			Tenant   string
			Requests int64
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &top); err != nil || r.code != 1 {
		t.Fatalf("tenants top: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	// Lost: the last entry of segment 1, cut, and the first of segment 2,
	// whose link names it.
	if top.Requests != n-2 || len(top.Top) != 1 || top.Top[0].Requests != n-2 {
		t.Errorf("tenants top: %+v; want acme's %d requests, all but the cut entry and the one after it", top, n-2)
	}
}
