package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/collector"
)

// forgedTrail is a store whose readers are attacked: entries stored by
// the collector, the head published outside the host after the first of
// them, then an entry past that head edited in place (old replaced by
// evil) and a forged entry, correctly hashed and linked but unsigned,
// appended with the signed head deleted so that readers do not hide it.
type forgedTrail struct {
	data, pub, published string
}

// newForgedTrail stores what fill stores in two rounds (round 0 before the
// head is published, round 1 after, in a segment of its own, where edit
// must be), then edits and forges as above: in
// the entry holding edit, old becomes evil; the forged entry is a copy of
// the last entry with old replaced by forged.
func newForgedTrail(t *testing.T, fill func(st *collector.Store, round int), edit, old, evil, forged string) forgedTrail {
	t.Helper()
	open := func(dir string, key ed25519.PrivateKey) (*collector.Store, func()) {
		st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key, SegmentMaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return st, func() {}
	}
	return newForgedTrailWith(t, open, fill, edit, old, evil, old, forged)
}

// newForgedTrailWith is newForgedTrail with the store opened by open
// (which returns what to do before the store is closed), and the forged
// entry's forgeOld replaced by forged.
func newForgedTrailWith(t *testing.T, open func(dir string, key ed25519.PrivateKey) (*collector.Store, func()), fill func(st *collector.Store, round int), edit, old, evil, forgeOld, forged string) forgedTrail {
	t.Helper()
	dir := t.TempDir()
	ft := forgedTrail{data: filepath.Join(dir, "audit"), pub: filepath.Join(dir, "signing.key.pub"), published: filepath.Join(dir, "published-head.json")}
	keyFile := filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	key, err := collector.LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		st, stop := open(ft.data, key)
		fill(st, round)
		stop()
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if round == 0 {
			head, err := os.ReadFile(filepath.Join(ft.data, "head.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(ft.published, head, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	segs, _ := filepath.Glob(filepath.Join(ft.data, "seg-*.log"))
	if len(segs) == 0 {
		t.Fatalf("no segments in %s", ft.data)
	}
	seg := segs[len(segs)-1] // round 1's: the entries past the published head
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	edited := false
	for i, l := range lines {
		if bytes.Contains(l, []byte(edit)) {
			lines[i], edited = bytes.Replace(l, []byte(old), []byte(evil), 1), true
		}
	}
	if !edited {
		t.Fatalf("no entry holds %q", edit)
	}
	var last struct {
		Hash string          `json:"hash"`
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(lines[len(lines)-1], &last); err != nil {
		t.Fatal(err)
	}
	seq := regexp.MustCompile(`"seq":(\d+)`).FindSubmatch(last.Body)
	n, _ := strconv.Atoi(string(seq[1]))
	body := bytes.Replace(last.Body, seq[0], []byte(`"seq":`+strconv.Itoa(n+1)), 1)
	body = bytes.ReplaceAll(body, []byte(forgeOld), []byte(forged))
	prev, _ := hex.DecodeString(last.Hash)
	sum := sha256.Sum256(append(append([]byte(nil), prev...), body...))
	line := `{"prev":"` + last.Hash + `","hash":"` + hex.EncodeToString(sum[:]) + `","body":` + string(body) + "}\n"
	lines = append(lines, []byte("\n"), []byte(line))
	if err := os.WriteFile(seg, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(ft.data, "head.json")); err != nil {
		t.Fatal(err)
	}
	return ft
}

// flaggedLines counts the lines of out holding s, flagged unverified and
// not.
func flaggedLines(out, s string) (flagged, plain int) {
	for _, l := range strings.Split(out, "\n") {
		switch {
		case !strings.Contains(l, s):
		case strings.Contains(l, collector.FlagUnverified):
			flagged++
		default:
			plain++
		}
	}
	return
}

// events list --data read the trail without verifying it: an event edited
// past the published head, or appended by someone without the key,
// listed like any other. It now verifies with --public-key and flags
// them, exiting 1, and without a key flags every event.
func TestEventsListFlagsEventsItCannotVerify(t *testing.T) {
	t.Parallel()
	ev := func(actor, target string) collector.Event {
		return collector.Event{Time: time.Now().UTC(), Actor: actor, Action: "key.revoke", Target: target, Reason: "r"}
	}
	ft := newForgedTrail(t, func(st *collector.Store, round int) {
		for i := range 2 {
			if err := st.AppendEvents([]collector.Event{ev("alice", "key-"+strconv.Itoa(round)+strconv.Itoa(i))}); err != nil {
				t.Fatal(err)
			}
		}
	}, `"key-10"`, "alice", "evilx", "forgd")

	r := portcullis(t, "", nil, "events", "list", "--data", ft.data)
	if f, p := flaggedLines(r.stdout, "key.revoke"); f != 5 || p != 0 || r.code != 0 || !strings.Contains(r.stderr, "not verified") {
		t.Errorf("no key: exit %d, %d events flagged, %d plain, stderr %q; want 0, all 5 flagged, saying not verified\n%s", r.code, f, p, r.stderr, r.stdout)
	}
	for _, format := range []string{"table", "json"} {
		r = portcullis(t, "", nil, "events", "list", "--data", ft.data, "--public-key", ft.pub, "--published-head", ft.published, "--format", format)
		if r.code != 1 || !strings.Contains(r.stderr, collector.ProblemHashMismatch) || !strings.Contains(r.stderr, collector.ProblemMissingHead) {
			t.Errorf("%s: exit %d, stderr %q; want 1 naming the %s and the %s", format, r.code, r.stderr, collector.ProblemHashMismatch, collector.ProblemMissingHead)
		}
		out := r.stdout
		if format == "json" {
			var rows []struct {
				Actor string   `json:"actor"`
				Flags []string `json:"flags"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
				t.Fatalf("json: %v\n%s", err, r.stdout)
			}
			out = ""
			for _, row := range rows {
				out += row.Actor + " " + strings.Join(row.Flags, ",") + "\n"
			}
		}
		for who, want := range map[string][2]int{"evilx": {1, 0}, "forgd": {1, 0}, "alice": {0, 3}} {
			if f, p := flaggedLines(out, who); f != want[0] || p != want[1] {
				t.Errorf("%s: events by %s: %d flagged, %d plain; want %d and %d\n%s", format, who, f, p, want[0], want[1], r.stdout)
			}
		}
	}
}

// incident assess read the trail without verifying it: requests edited
// past the published head, or appended by someone without the key,
// counted like any other in what the auditor reads. It now verifies with
// --public-key, counts those in unverified and exits 1; without a key
// every request counts unverified. With the key, the edited and forged
// records were still counted in the records and named their tenants
// (evilx, forgd) in the breakdown: they now count in unverified alone.
func TestIncidentAssessCountsRecordsItCannotVerify(t *testing.T) {
	t.Parallel()
	ft := newForgedTrail(t, func(st *collector.Store, round int) {
		for i := range 2 {
			rec := collector.StoredRecord{Time: time.Now().UTC(), Tenant: "acme", Client: "c1", Method: "GET", Route: "/v1/things", Status: 200, Decision: "allowed"}
			if err := st.AppendBatch(&collector.Batch{ID: "b-" + strconv.Itoa(round) + strconv.Itoa(i), Records: []collector.StoredRecord{rec}}); err != nil {
				t.Fatal(err)
			}
		}
	}, `"b-10"`, `"acme"`, `"evilx"`, `"forgd"`)
	type assessment struct {
		Records, Unverified int64
		Tenants             map[string]int64
	}
	run := func(args ...string) (assessment, result) {
		r := portcullis(t, "", nil, append([]string{"incident", "assess", "--client", "c1", "--data", ft.data, "--format", "json"}, args...)...)
		var a assessment
		if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
			t.Fatalf("incident assess %q: exit %d, %v\n%s\n%s", args, r.code, err, r.stdout, r.stderr)
		}
		return a, r
	}
	a, r := run()
	if r.code != 0 || a.Records != 5 || a.Unverified != 5 || !strings.Contains(r.stderr, "not verified") {
		t.Errorf("no key: exit %d, %+v, stderr %q; want 0, 5 records all unverified, saying not verified", r.code, a, r.stderr)
	}
	a, r = run("--public-key", ft.pub, "--published-head", ft.published)
	if r.code != 1 || !strings.Contains(r.stderr, collector.ProblemHashMismatch) {
		t.Errorf("with the key: exit %d, stderr %q; want 1 naming the %s", r.code, r.stderr, collector.ProblemHashMismatch)
	}
	if a.Records != 3 || a.Unverified != 2 || len(a.Tenants) != 1 || a.Tenants["acme"] != 3 {
		t.Errorf("with the key: %+v; want the 3 verified records counted, of tenant acme alone, the edited and the forged one, 2, unverified alone", a)
	}
	r = portcullis(t, "", nil, "incident", "assess", "--client", "c1", "--data", ft.data, "--public-key", ft.pub, "--published-head", ft.published)
	if !regexp.MustCompile(`(?m)^unverified\s+2$`).MatchString(r.stdout) {
		t.Errorf("table: %s\nwant the line unverified 2", r.stdout)
	}
}

// incident report read the trail without verifying it: a denial edited
// past the published head and a containment change appended by someone
// without the key were reported as the alert's enforcement and
// containment. It now verifies with --public-key and flags them (and
// rebuilds the alert from the entries that pass their checks only),
// exiting 1; without a key every change and enforcement is flagged.
func TestIncidentReportFlagsWhatItCannotVerify(t *testing.T) {
	t.Parallel()
	var det *detection
	var id string
	open := openWithDetection(t, &det)
	now := time.Now().UTC()
	ft := newForgedTrailWith(t, open, func(st *collector.Store, round int) {
		if round == 0 {
			appendBatch(t, st, "g", guesses(now.Add(-time.Minute), time.Millisecond, "acmehris1", "203.0.113.9", "r"))
			id = alertID(t, det, "token-guessing-client", "")
			return
		}
		deny := collector.StoredRecord{Time: now, Client: "acme-hris", Method: "GET", Route: "/v1/users", Status: 403, Decision: "suspended", RequestID: "deny-1"}
		if err := st.AppendBatch(&collector.Batch{ID: "d", Sender: "token:a", Instance: "pod-a", Records: []collector.StoredRecord{deny}}); err != nil {
			t.Fatal(err)
		}
		ev := collector.Event{Time: now, ClaimedTime: now.Add(-time.Second), Actor: "alice", Action: "client.suspend", Target: "acme-hris", Reason: "alert " + id + ": incident T-1", Ticket: "T-1"}
		if err := st.AppendEvents([]collector.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}, `"pod-a"`, `"pod-a"`, `"pod-x"`, `"alice"`, `"forgd"`)

	type report struct {
		Containment []struct {
			Actor string
			Flags []string
		}
		Enforcement []struct {
			Pod   string
			Flags []string
		}
	}
	run := func(args ...string) (report, result) {
		r := portcullis(t, "", nil, append([]string{"incident", "report", id, "--data", ft.data, "--format", "json"}, args...)...)
		var rep report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("incident report %q: exit %d, %v\n%s\n%s", args, r.code, err, r.stdout, r.stderr)
		}
		return rep, r
	}
	flagged := func(f []string) bool { return strings.Join(f, ",") == collector.FlagUnverified }
	rep, r := run()
	if r.code != 0 || len(rep.Containment) != 2 || len(rep.Enforcement) != 1 || !strings.Contains(r.stderr, "not verified") ||
		!flagged(rep.Containment[0].Flags) || !flagged(rep.Containment[1].Flags) || !flagged(rep.Enforcement[0].Flags) {
		t.Errorf("no key: exit %d, %+v, stderr %q; want 0, two changes and one enforcement all flagged, saying not verified", r.code, rep, r.stderr)
	}
	rep, r = run("--public-key", ft.pub, "--published-head", ft.published)
	if r.code != 1 || !strings.Contains(r.stderr, collector.ProblemHashMismatch) {
		t.Errorf("with the key: exit %d, stderr %q; want 1 naming the %s", r.code, r.stderr, collector.ProblemHashMismatch)
	}
	if len(rep.Containment) != 2 || rep.Containment[0].Actor != "alice" || flagged(rep.Containment[0].Flags) ||
		rep.Containment[1].Actor != "forgd" || !flagged(rep.Containment[1].Flags) {
		t.Errorf("with the key: containment %+v; want alice's change plain and the forged one flagged", rep.Containment)
	}
	if len(rep.Enforcement) != 1 || rep.Enforcement[0].Pod != "pod-x" || !flagged(rep.Enforcement[0].Flags) {
		t.Errorf("with the key: enforcement %+v; want the edited denial flagged", rep.Enforcement)
	}
	r = portcullis(t, "", nil, "incident", "report", id, "--data", ft.data, "--public-key", ft.pub, "--published-head", ft.published)
	if !strings.Contains(r.stdout, "by forgd (ticket T-1): alert "+id+": incident T-1 [unverified]") || !strings.Contains(r.stdout, "after containment) [unverified]") {
		t.Errorf("markdown:\n%s\nwant the forged change and the edited denial marked [unverified]", r.stdout)
	}
}

// tenants top read the trail without verifying it: requests edited past
// the published head, or appended by someone without the key, ranked a
// tenant like any other. It now verifies with --public-key, counts those
// in unverified (per tenant and in total) and exits 1; without a key
// every request counts unverified. With the key, those requests were
// still counted in the requests, throttled and bytes totals and the
// shares while verify failed (req802): they are now left out of every
// count but unverified, as the pack and detection's replay leave them.
func TestTenantsTopCountsRecordsItCannotVerify(t *testing.T) {
	t.Parallel()
	ft := newForgedTrail(t, func(st *collector.Store, round int) {
		for i := range 2 {
			rec := collector.StoredRecord{Time: time.Now().UTC(), Tenant: "acme", Client: "c1", Method: "GET", Route: "/v1/things", Status: 200, Decision: "allowed"}
			if err := st.AppendBatch(&collector.Batch{ID: "b-" + strconv.Itoa(round) + strconv.Itoa(i), Records: []collector.StoredRecord{rec}}); err != nil {
				t.Fatal(err)
			}
		}
	}, `"b-10"`, `"acme"`, `"evilx"`, `"forgd"`)
	type report struct {
		Requests, Unverified int64
		Top                  []struct {
			Tenant               string
			Requests, Unverified int64
		}
	}
	run := func(args ...string) (map[string][2]int64, report, result) {
		r := portcullis(t, "", nil, append([]string{"tenants", "top", "--data", ft.data, "--format", "json"}, args...)...)
		var rep report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("tenants top %q: exit %d, %v\n%s\n%s", args, r.code, err, r.stdout, r.stderr)
		}
		m := map[string][2]int64{}
		for _, s := range rep.Top {
			m[s.Tenant] = [2]int64{s.Requests, s.Unverified}
		}
		return m, rep, r
	}
	m, rep, r := run()
	if r.code != 0 || rep.Requests != 5 || rep.Unverified != 5 || m["acme"] != [2]int64{3, 3} || !strings.Contains(r.stderr, "not verified") {
		t.Errorf("no key: exit %d, %+v, stderr %q; want 0, 5 requests all unverified, saying not verified", r.code, rep, r.stderr)
	}
	m, rep, r = run("--public-key", ft.pub, "--published-head", ft.published)
	if r.code != 1 || !strings.Contains(r.stderr, collector.ProblemHashMismatch) || !strings.Contains(r.stderr, collector.ProblemMissingHead) {
		t.Errorf("with the key: exit %d, stderr %q; want 1 naming the %s and the %s", r.code, r.stderr, collector.ProblemHashMismatch, collector.ProblemMissingHead)
	}
	if rep.Requests != 3 || rep.Unverified != 2 || len(m) != 1 || m["acme"] != [2]int64{3, 0} {
		t.Errorf("with the key: %+v; want the 3 verified requests counted, the edited and the forged one, 2, unverified alone", rep)
	}
	r = portcullis(t, "", nil, "tenants", "top", "--data", ft.data, "--public-key", ft.pub, "--published-head", ft.published)
	if strings.Contains(r.stdout, "evilx") || strings.Contains(r.stdout, "forgd") ||
		!regexp.MustCompile(`(?m)^\s*acme\s+3\s+100\.0%`).MatchString(r.stdout) || !strings.Contains(r.stdout, "1 tenants") ||
		!strings.Contains(r.stdout, "3 requests") || !strings.Contains(r.stdout, "2 unverified") {
		t.Errorf("table:\n%s\nwant acme 3 requests, 100%%, no row of evilx or forgd; the totals 1 tenant, 3 requests, 2 unverified", r.stdout)
	}
}

// tenants top --public-key gave a tenant that only forged entries name a
// row of its own (0 requests, 1 unverified) and counted it among the
// tenants seen: the name is the forger's word as much as the numbers
// are. With a key, a forged entry now counts in the report's unverified
// alone.
func TestTenantsTopForgedTenantHasNoRow(t *testing.T) {
	t.Parallel()
	ft := newForgedTrail(t, func(st *collector.Store, round int) {
		rec := collector.StoredRecord{Time: time.Now().UTC(), Tenant: "acme", Route: "/v1/things", Status: 200, Decision: "allowed"}
		if err := st.AppendBatch(&collector.Batch{ID: "b-" + strconv.Itoa(round), Records: []collector.StoredRecord{rec}}); err != nil {
			t.Fatal(err)
		}
	}, `"b-1"`, `"acme"`, `"acme"`, `"ghost"`)
	r := portcullis(t, "", nil, "tenants", "top", "--data", ft.data, "--public-key", ft.pub, "--published-head", ft.published, "--format", "json")
	var rep collector.TenantReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("tenants top: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	for _, s := range rep.Tenants {
		if s.Tenant == "ghost" {
			t.Errorf("tenants top --public-key lists the forged tenant: %+v", s)
		}
	}
	if r.code != 1 || rep.Count != 1 || rep.Requests != 2 || rep.Unverified != 1 {
		t.Errorf("tenants top --public-key: exit %d, %d tenants seen, %d requests, %d unverified; want 1, 1 (acme), 2, 1", r.code, rep.Count, rep.Requests, rep.Unverified)
	}
}

// alerts list and show read the trail without verifying it: an alert's
// acknowledgement edited past the published head, and one appended by
// someone without the key, were shown as the alert's history. They now
// verify with --public-key and rebuild the alerts from the entries that
// pass their checks only (as detection and incident report do), saying
// how many entries were left out and exiting 1; without a key every
// alert is flagged unverified.
func TestAlertsListAndShowVerifyTheTrail(t *testing.T) {
	t.Parallel()
	var det *detection
	var id string
	open := openWithDetection(t, &det)
	now := time.Now().UTC()
	ft := newForgedTrailWith(t, open, func(st *collector.Store, round int) {
		if round == 0 {
			appendBatch(t, st, "g", guesses(now.Add(-time.Minute), time.Millisecond, "acmehris1", "203.0.113.9", "r"))
			id = alertID(t, det, "token-guessing-client", "")
			return
		}
		for _, reason := range []string{"ack-1", "ack-2"} {
			ev := collector.Event{Time: now, ClaimedTime: now, Actor: "alice", Action: "alert.ack", Target: id, Reason: reason}
			if err := st.AppendEvents([]collector.Event{ev}); err != nil {
				t.Fatal(err)
			}
		}
	}, `"ack-1"`, `"alice"`, `"evilx"`, `"alice"`, `"forgd"`)

	type shown struct {
		ID      string
		Flags   []string
		History []struct{ Actor string }
	}
	run := func(args ...string) (shown, result) {
		r := portcullis(t, "", nil, append(args, "--data", ft.data, "--format", "json")...)
		var a shown
		if args[1] == "list" {
			var as []shown
			if err := json.Unmarshal([]byte(r.stdout), &as); err != nil || len(as) != 1 {
				t.Fatalf("%q: exit %d, %v\n%s\n%s", args, r.code, err, r.stdout, r.stderr)
			}
			a = as[0]
		} else if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
			t.Fatalf("%q: exit %d, %v\n%s\n%s", args, r.code, err, r.stdout, r.stderr)
		}
		return a, r
	}
	actors := func(a shown) string {
		var s []string
		for _, h := range a.History {
			s = append(s, h.Actor)
		}
		return strings.Join(s, ",")
	}
	key := []string{"--public-key", ft.pub, "--published-head", ft.published}
	for _, cmd := range [][]string{{"alerts", "list"}, {"alerts", "show", id}} {
		a, r := run(cmd...)
		if r.code != 0 || strings.Join(a.Flags, ",") != collector.FlagUnverified || !strings.Contains(r.stderr, "not verified") {
			t.Errorf("%q, no key: exit %d, flags %q, stderr %q; want 0, the alert flagged unverified, saying not verified", cmd, r.code, a.Flags, r.stderr)
		}
		a, r = run(append(cmd, key...)...)
		if r.code != 1 || !strings.Contains(r.stderr, collector.ProblemHashMismatch) || !strings.Contains(r.stderr, "2 trail entries failed their own checks") {
			t.Errorf("%q, with the key: exit %d, stderr %q; want 1 naming the %s and the 2 entries left out", cmd, r.code, r.stderr, collector.ProblemHashMismatch)
		}
		if len(a.Flags) != 0 || strings.Contains(actors(a), "evilx") || strings.Contains(actors(a), "forgd") || !strings.Contains(actors(a), "alice") {
			t.Errorf("%q, with the key: flags %q, history by %s; want alice's acknowledgement only, not the edited or forged one", cmd, a.Flags, actors(a))
		}
	}
	r := portcullis(t, "", nil, "alerts", "list", "--data", ft.data)
	if f, _ := flaggedLines(r.stdout, id); f != 1 {
		t.Errorf("table, no key:\n%s\nwant the alert's line flagged unverified", r.stdout)
	}
}

// events list, incident assess and incident report printed text from the
// trail (a client-chosen request id, a reason, a pod name) to the
// terminal as it was: "\x1b[2J" cleared the operator's screen and "\n"
// started a line of its own, forging output. Each now prints such text
// escaped, on the line it belongs to, as audit query does.
func TestTrailTextIsOneLineInTheTerminal(t *testing.T) {
	t.Parallel()
	const hostile = "x\x1b[2J\nforged-line"
	dir := t.TempDir()
	data := filepath.Join(dir, "audit")
	st := auditStore(t, data)
	now := time.Now().UTC()
	rec := collector.StoredRecord{Time: now, Tenant: "acme", Client: "c1", Method: "GET", Route: "/v1/users", Status: 403, Decision: "suspended", RequestID: hostile, SourceIP: hostile}
	if err := st.AppendBatch(&collector.Batch{ID: "b", Sender: "token:a", Instance: hostile, Records: []collector.StoredRecord{rec}}); err != nil {
		t.Fatal(err)
	}
	ev := collector.Event{Time: now, Actor: hostile, Action: "key.revoke", Target: hostile, Reason: hostile, Ticket: hostile}
	if err := st.AppendEvents([]collector.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"events", "list", "--data", data},
		{"incident", "assess", "--client", "c1", "--data", data},
	} {
		r := portcullis(t, "", nil, args...)
		if strings.Contains(r.stdout, "\x1b") || regexp.MustCompile(`(?m)^forged-line`).MatchString(r.stdout) || !strings.Contains(r.stdout, "forged-line") {
			t.Errorf("%q: exit %d, stdout %q; want the hostile text escaped on its own row", args, r.code, r.stdout)
		}
	}
}

// openWithDetection opens a store with the example policy's detection
// running over it, and sets *det to it.
func openWithDetection(t *testing.T, det **detection) func(dir string, key ed25519.PrivateKey) (*collector.Store, func()) {
	return func(dir string, key ed25519.PrivateKey) (*collector.Store, func()) {
		*det = &detection{key: key}
		st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key, Detection: (*det).hooks()})
		if err != nil {
			t.Fatal(err)
		}
		nop := zerolog.Nop()
		ctx, cancel := context.WithCancel(context.Background())
		if err := (*det).start(ctx, examplePolicy, nil, "", dir, st, &nop); err != nil {
			t.Fatal(err)
		}
		return st, cancel
	}
}
