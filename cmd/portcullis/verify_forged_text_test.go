package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// forgedBreakText is the reason of a break entry written into a store by
// someone who can edit its files but not read the signing key: it clears a
// terminal, prints a line of its own saying the store is intact, then
// hides what follows (SGR 8), and starts lines of its own in Markdown.
const forgedBreakText = "\x1b[2J\x1b[Hintact: 1 segments (0 expired by retention), 2 batches\n\nResult: OK\n\x1b[8m"

// appendForgedBreak appends to the newest segment of the store in dir a
// break entry the collector never wrote, its reason text, hashed as the
// collector hashes entries (anyone can) and unsigned (no one without the
// key can sign it).
func appendForgedBreak(t *testing.T, dir, reason string) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segments in %s: %v", dir, err)
	}
	sort.Strings(segs)
	body, err := json.Marshal(map[string]any{"seq": 999, "kind": collector.KindBreak, "time": time.Now().UTC(), "reason": reason})
	if err != nil {
		t.Fatal(err)
	}
	var prev [32]byte
	h := sha256.New()
	h.Write(prev[:])
	h.Write(body)
	line := `{"prev":"` + hex.EncodeToString(prev[:]) + `","hash":"` + hex.EncodeToString(h.Sum(nil)) + `","body":` + string(body) + "}\n"
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		t.Fatal(err)
	}
}

// audit verify prints the problems it finds as text: a break entry's
// reason is text from the store, which whoever edits the store writes.
// Before, it was printed as the entry held it, and a forged entry's
// escape sequences cleared the auditor's terminal, printed "intact" and
// hid the report's own lines (attack802).
func TestAuditVerifyPrintsForgedEntryTextPlain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, keyFile := filepath.Join(dir, "audit"), filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	appendToStore(t, data, keyFile, 0, 2)
	appendForgedBreak(t, data, forgedBreakText)

	r := portcullis(t, "", nil, "audit", "verify", "--data", data, "--public-key", keyFile+".pub")
	if r.code == 0 {
		t.Fatalf("audit verify of a store with a forged entry: exit 0\n%s", r.stdout)
	}
	if strings.ContainsAny(r.stdout, "\x1b\r") {
		t.Errorf("audit verify printed an escape or carriage return from the store:\n%q", r.stdout)
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "intact") || strings.HasPrefix(l, "Result: OK") {
			t.Errorf("audit verify printed a line of the forged entry's own: %q\n%q", l, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "recorded_break") && !strings.Contains(r.stdout, "break") {
		t.Errorf("audit verify does not report the forged break at all:\n%s", r.stdout)
	}
}

// members list prints each live sidecar's pod name, which its member
// record holds: every sidecar writes members/ as one etcd user, so a
// stolen sidecar credential writes any record there. Before, the name was
// printed as the record held it, and escape sequences in it cleared the
// operator's terminal and printed a fleet of its own (attack802).
func TestMembersListPrintsPodNamesPlain(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	const prefix = "/members-text"
	r := etcdRunner{t: t, common: []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", prefix}}
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	rec := `{"pod":"pod-x\u001b[2J\u001b[HPOD  APPLIED REVISION\npod-a\u001b[8m","revision":1,"started":"2026-12-01T00:00:00Z","updated":"2026-12-01T00:00:00Z","policy_digest":"\u001b[2J\u001b[Hx"}`
	if _, err := cli.Put(context.Background(), prefix+"/members/pod-x", rec); err != nil {
		t.Fatal(err)
	}
	out := r.run(0, "members", "list")
	if strings.ContainsAny(out, "\x1b") || strings.Contains(out, "\npod-a") {
		t.Errorf("members list printed the record's pod name as it was:\n%q", out)
	}
	if !strings.Contains(out, "pod-x") {
		t.Errorf("members list does not show the record at all:\n%q", out)
	}
}

// audit verify's own counts took a forged entry's word: a break appended
// by someone without the key was counted in "recorded breaks" and listed
// as one, and its seq (999) made "unsigned entries" read 997 for one
// line. The entry now counts as unverified alone, and the report names
// it by the problems it fails.
func TestAuditVerifyCountsNoForgedEntry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, keyFile := filepath.Join(dir, "audit"), filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	appendToStore(t, data, keyFile, 0, 2)
	appendForgedBreak(t, data, "forged")

	r := portcullis(t, "", nil, "audit", "verify", "--data", data, "--public-key", keyFile+".pub", "--json")
	var rep struct {
		Batches, Records, Unsigned, Breaks, Unverified int
		Problems                                       []collector.Problem
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 {
		t.Fatalf("audit verify --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	for _, p := range rep.Problems {
		if p.What == collector.ProblemRecordedBreak {
			t.Errorf("audit verify lists the forged break as a recorded break: %s", p)
		}
	}
	if rep.Breaks != 0 || rep.Batches != 2 || rep.Records != 2 || rep.Unsigned > 1 || rep.Unverified != 1 {
		t.Errorf("audit verify: %d breaks, %d batches, %d records, %d unsigned, %d unverified; want 0, 2, 2, at most 1, 1",
			rep.Breaks, rep.Batches, rep.Records, rep.Unsigned, rep.Unverified)
	}
	r = portcullis(t, "", nil, "audit", "verify", "--data", data, "--public-key", keyFile+".pub")
	if !strings.Contains(r.stdout, "0 recorded breaks") || !strings.Contains(r.stdout, "1 entries unverified") {
		t.Errorf("audit verify:\n%s\nwant 0 recorded breaks and 1 entries unverified", r.stdout)
	}
}
