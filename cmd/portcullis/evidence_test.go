package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/evidence"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// evidenceStore writes a real store with one allowed and one throttled
// request at now, signed with the key at keyPath.
func evidenceStore(t *testing.T, dir, keyPath string, now time.Time) {
	t.Helper()
	key, err := collector.LoadPrivateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	b := &collector.Batch{ID: "e1", Sender: "token:sidecar-1", Records: []collector.StoredRecord{
		{Time: now, Tenant: "acme", Client: "acme-hris", Method: "GET", Route: "/v1/users", Status: 200, Decision: "allowed"},
		{Time: now, Tenant: "acme", Client: "acme-hris", Method: "GET", Route: "/v1/users", Status: 429, Decision: "rate_limited"},
	}}
	if err := st.AppendBatch(b); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignHead(now); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestEvidencePackFromEtcd pushes two policies to a real etcd, runs
// evidence pack against it and a real store, and checks the rate-limit
// export names both revisions with their pushers and limits, the
// authentication standard the newer one, and that evidence verify finds
// a changed, an added and a removed file.
func TestEvidencePackFromEtcd(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	a := etcdadmin.New(cli, "/evidence-test")
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "alice", Ticket: "CHG-1"}); err != nil {
		t.Fatal(err)
	}
	doc2 := bytes.Replace(doc, []byte("limit: {rate: 200/s, burst: 400}"), []byte("limit: {rate: 150/s, burst: 300}"), 1)
	if _, err := a.PushPolicy(ctx, doc2, 0, etcdadmin.Meta{Actor: "bob", Ticket: "CHG-2"}); err != nil {
		t.Fatal(err)
	}
	hist, err := a.PolicyHistory(ctx, 0)
	if err != nil || len(hist) != 2 {
		t.Fatalf("history = %d entries, %v", len(hist), err)
	}

	tmp := t.TempDir()
	keyPath, data, out := filepath.Join(tmp, "collector.key"), filepath.Join(tmp, "data"), filepath.Join(tmp, "out")
	if err := collector.GenerateKey(keyPath); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	evidenceStore(t, data, keyPath, now)
	from, to := now.AddDate(0, 0, -1).Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly)
	var stdout, stderr bytes.Buffer
	args := []string{"--from", from, "--to", to, "--data", data, "--out", out, "--etcd", strings.Join(e.Endpoints(), ","),
		"--prefix", "/evidence-test", "--signing-key", keyPath, "--retention", "400d"}
	if code := evidencePack(args, &stdout, &stderr); code != 0 {
		t.Fatalf("evidence pack = exit %d\n%s%s", code, &stdout, &stderr)
	}
	period := from + "_" + to
	dir := filepath.Join(out, "evidence-"+period)

	var export struct {
		Revisions []struct {
			Revision int64          `json:"revision"`
			Actor    string         `json:"pushed_by"`
			Ticket   string         `json:"ticket"`
			Digest   string         `json:"digest"`
			Tenants  map[string]any `json:"tenants"`
		} `json:"revisions"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "APIRateLimits-GatewayConfigExport-"+period+".json"))
	if err == nil {
		err = json.Unmarshal(b, &export)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(export.Revisions) != 2 {
		t.Fatalf("export has %d revisions, want 2:\n%s", len(export.Revisions), b)
	}
	for i, want := range []struct{ actor, ticket, rate string }{{"alice", "CHG-1", "200/s"}, {"bob", "CHG-2", "150/s"}} {
		r := export.Revisions[i]
		lim, _ := json.Marshal(r.Tenants["acme"])
		if r.Actor != want.actor || r.Ticket != want.ticket || r.Revision != hist[i].Revision || !strings.Contains(string(lim), want.rate) {
			t.Errorf("revision %d: %+v (acme %s), want %+v at etcd revision %d", i, r, lim, want, hist[i].Revision)
		}
	}
	if bytes.Contains(b, []byte("sha256")) {
		t.Error("the rate-limit export holds key digests")
	}
	std, _ := os.ReadFile(filepath.Join(dir, "APIAuth-AuthenticationStandard-"+period+".md"))
	if !strings.Contains(string(std), hist[1].Digest) || !strings.Contains(string(std), "by bob (ticket CHG-2)") {
		t.Errorf("authentication standard does not name the policy in force (%s):\n%s", hist[1].Digest, std)
	}

	checkRunbook(t, filepath.Join(dir, "APIRunbook-TokenCompromise-v1.0.md"), strings.Join(e.Endpoints(), ","), data)

	verifyPath := func(path string, want int) string {
		t.Helper()
		var o, e bytes.Buffer
		if code := evidenceVerify([]string{path, "--public-key", keyPath + ".pub"}, &o, &e); code != want {
			t.Fatalf("evidence verify = exit %d, want %d\n%s%s", code, want, &o, &e)
		}
		return o.String()
	}
	verify := func(want int) string { t.Helper(); return verifyPath(dir, want) }
	for _, path := range []string{dir + ".zip", dir} {
		if out := verifyPath(path, 0); !strings.Contains(out, "its manifest covers period "+period) {
			t.Errorf("evidence verify %s does not name the period its manifest covers:\n%s", path, out)
		}
	}
	approve(t, e, dir, keyPath, period)
	review(t, e, data, tmp)
	verify(0)
	verifyPath(dir+".zip", 0) // approve rebuilt the zip with the re-signed manifest
	zipped, _ := os.ReadFile(dir + ".zip")
	os.WriteFile(dir+".zip", bytes.Replace(zipped, []byte("manifest.csv"), []byte("manifest.csX"), -1), 0o644)
	if got := verifyPath(dir+".zip", 1); !strings.Contains(got, "manifest.csX: added") {
		t.Errorf("evidence verify of a zip with a renamed entry = %q", got)
	}
	matrix := filepath.Join(dir, "APIAuth-ScopeRoleMatrix-"+period+".csv")
	os.WriteFile(matrix, []byte("integration\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "extra.txt"), []byte("x"), 0o644)
	os.Remove(filepath.Join(dir, "APIAbuse-AlertToTicketSample-"+period+".md"))
	got := verify(1)
	for _, want := range []string{"ScopeRoleMatrix-" + period + ".csv: changed", "extra.txt: added", "AlertToTicketSample-" + period + ".md: removed"} {
		if !strings.Contains(got, want) {
			t.Errorf("evidence verify output lacks %q:\n%s", want, got)
		}
	}
}

// TestEvidencePackUsage checks the one-line usage errors.
func TestEvidencePackUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--data", "d", "--out", "o", "--policy", "p"}, "missing --period"},
		{[]string{"--period", "2026-Q5", "--data", "d", "--out", "o", "--policy", "p"}, "not a quarter"},
		{[]string{"--period", "2026-Q2", "--from", "2026-04-01", "--data", "d", "--out", "o", "--policy", "p"}, "not both"},
		{[]string{"--period", "2026-Q2", "--out", "o", "--policy", "p"}, "missing --data"},
		{[]string{"--period", "2026-Q2", "--data", "d", "--out", "o"}, "missing --etcd (or $PORTCULLIS_ETCD) or --policy"},
		{[]string{"--period", "2026-Q2", "--data", "d", "--out", "o", "--policy", "p", "--published-head", "h"}, "needs the collector's key"},
		{[]string{"--period", "2026-Q2", "--data", "d", "--out", "o", "--policy", "p", "--expect-head", strings.Repeat("ab12", 16)}, "needs the collector's key"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := evidencePack(tt.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), tt.want) ||
			strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("evidence pack %q = exit %d, stderr %q; want 2 and one line with %q", tt.args, code, &stderr, tt.want)
		}
	}
}

// checkRunbook checks that the runbook names this deployment and that
// every command it shows exists with the flags it gives.
func checkRunbook(t *testing.T, path, etcd, data string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "portcullis ") {
			continue
		}
		n++
		if !strings.Contains(line, data) && !strings.Contains(line, "--etcd "+etcd+" --prefix /evidence-test") {
			t.Errorf("runbook line %q names neither this deployment's etcd and prefix nor its data", line)
		}
		cmdPath, ok := commandPath(line)
		if !ok {
			t.Errorf("runbook shows %q: no such command", line)
			continue
		}
		help := portcullis(t, "", nil, append(cmdPath, "--help")...).stdout
		for _, f := range flagToken.FindAllString(line, -1) {
			if !strings.Contains(help, "\n  "+f+" ") && !strings.Contains(help, "\n  "+f+"\n") {
				t.Errorf("runbook shows %q, but portcullis %s has no flag %s", line, strings.Join(cmdPath, " "), f)
			}
		}
	}
	if n < 5 {
		t.Errorf("runbook shows %d commands:\n%s", n, b)
	}
}

// approve runs evidence approve on the scope matrix and checks the
// manifest's row, the re-signed manifest (the caller verifies) and the
// lifecycle event in etcd.
func approve(t *testing.T, e interface{ Endpoints() []string }, dir, keyPath, period string) {
	t.Helper()
	name := "APIAuth-ScopeRoleMatrix-" + period + ".csv"
	var stdout, stderr bytes.Buffer
	cmd := etcdSub(t, "evidence approve")
	args := []string{dir, "--file", name, "--reviewer", "rita", "--status", "approved", "--note", "matches the access review",
		"--ticket", "AUD-3", "--signing-key", keyPath, "--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/evidence-test"}
	if code := cmd.main(args, &stdout, &stderr); code != 0 {
		t.Fatalf("evidence approve = exit %d\n%s%s", code, &stdout, &stderr)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	var rows []map[string]string
	json.Unmarshal(b, &rows)
	var sum string
	for _, r := range rows {
		want := "Uploaded"
		if r["File Name"] == name {
			want, sum = "Approved", r["SHA-256"]
		}
		if r["Review Status"] != want {
			t.Errorf("%s: Review Status %q, want %q", r["File Name"], r["Review Status"], want)
		}
	}
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := etcdadmin.New(cli, "/evidence-test").ListEvents(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range evs {
		if ev.Action == etcdadmin.ActionEvidenceApprove {
			found = ev.Target == name && ev.Actor == "rita" && ev.Ticket == "AUD-3" && ev.Reason == "matches the access review" &&
				ev.Details["status"] == "Approved" && ev.Details["sha256"] == sum
		}
	}
	if !found {
		t.Errorf("no evidence.approve event for %s by rita with the file's digest in %+v", name, evs)
	}
	stderr.Reset()
	bad := append([]string{}, args...)
	bad[2] = "nope.csv"
	if code := cmd.main(bad, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "not in the manifest") {
		t.Errorf("approving a file not in the pack = exit %d, %q", code, &stderr)
	}
}

// review writes the access worksheet from the policy in etcd and the
// store, signs it, and checks the review.sign event carries its digest.
func review(t *testing.T, e interface{ Endpoints() []string }, data, tmp string) {
	t.Helper()
	etcd := strings.Join(e.Endpoints(), ",")
	ws, year := filepath.Join(tmp, "access.csv"), time.Now().UTC().Format("2006")
	var stdout, stderr bytes.Buffer
	if code := reviewStart([]string{"access", "--period", year, "--data", data, "--etcd", etcd,
		"--prefix", "/evidence-test", "--out", ws}, &stdout, &stderr); code != 0 {
		t.Fatalf("review start = exit %d\n%s%s", code, &stdout, &stderr)
	}
	b, err := os.ReadFile(ws)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "review_decision (keep/reduce/revoke)") || !strings.Contains(string(b), "acme-admin,it-admin@acme.example,acme,admin:settings export:data manage:integrations,0,") {
		t.Errorf("access worksheet lacks the decision column or acme-admin's row:\n%s", b)
	}
	sum := sha256.Sum256(b)
	cmd := etcdSub(t, "review sign")
	args := []string{"--kind", "access", "--period", year, "--reviewer", "rita", "--decision", "approved", "--note", "keep all",
		"--worksheet", ws, "--etcd", etcd, "--prefix", "/evidence-test"}
	if code := cmd.main(args, &stdout, &stderr); code != 0 {
		t.Fatalf("review sign = exit %d\n%s%s", code, &stdout, &stderr)
	}
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := etcdadmin.New(cli, "/evidence-test").ListEvents(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range evs {
		if ev.Action == "review.sign" {
			found = ev.Target == "access-"+year && ev.Actor == "rita" && ev.Details["decision"] == "approved" &&
				ev.Details["worksheet_sha256"] == hex.EncodeToString(sum[:])
		}
	}
	if !found {
		t.Errorf("no review.sign event with the worksheet's digest in %+v", evs)
	}
	stderr.Reset()
	args[7] = "maybe"
	if code := cmd.main(args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "want approved or changes-required") {
		t.Errorf("review sign --decision maybe = exit %d, %q", code, &stderr)
	}
}

// TestEvidencePackNoActivity runs evidence pack over a new, empty store:
// it succeeds and says the period had no activity.
func TestEvidencePackNoActivity(t *testing.T) {
	data, out := t.TempDir(), t.TempDir()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := evidencePack([]string{"--period", "2026-Q1", "--data", data, "--out", out, "--policy", "../../examples/policy.yaml"}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "no activity in period 2026-Q1") {
		t.Errorf("evidence pack of an empty period = exit %d, stdout %q, stderr %q; want 0 and a line saying there was no activity", code, &stdout, &stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "evidence-2026-Q1", "index.html")); err != nil {
		t.Error(err)
	}
}

// TestReviewStartNeverWritesThroughALink: a link planted under the
// worksheet's name (in a shared reviews folder) made review start write
// the worksheet where it points: here over the collector's signing key.
// review start now refuses, and the target is untouched.
func TestReviewStartNeverWritesThroughALink(t *testing.T) {
	t.Parallel()
	data, tmp := t.TempDir(), t.TempDir()
	keyPath, _ := signingKeyFile(t)
	evidenceStore(t, data, keyPath, time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC))
	before, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(tmp, "access.csv")
	if err := os.Symlink(keyPath, ws); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := reviewStart([]string{"access", "--period", "2026-Q2", "--data", data, "--policy", examplePolicy, "--out", ws}, &stdout, &stderr)
	if after, _ := os.ReadFile(keyPath); !bytes.Equal(after, before) {
		t.Fatalf("review start (exit %d) wrote the worksheet through the link over %s: %q", code, keyPath, after)
	}
	if code == 0 || !strings.Contains(stderr.String(), "link") {
		t.Errorf("review start over a planted link = exit %d, stderr %q; want a refusal naming the link", code, &stderr)
	}
}

// TestEvidenceVerifyOfAMissingPath: a pack path that does not exist (a
// typo, the wrong folder) was reported as "manifest.json: removed", the
// words of a tampered pack; it now says the path is not there.
func TestEvidenceVerifyOfAMissingPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	if r := portcullis(t, "", nil, "audit", "keygen", "--out", key); r.code != 0 {
		t.Fatalf("audit keygen: exit %d: %s", r.code, r.stderr)
	}
	for _, p := range []string{filepath.Join(dir, "evidence-2026-12"), filepath.Join(dir, "evidence-2026-12.zip")} {
		r := portcullis(t, "", nil, "evidence", "verify", p, "--public-key", key+".pub")
		if r.code != 1 || strings.Contains(r.stderr, "removed") || !strings.Contains(r.stderr, "no such file or directory") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("evidence verify %s = exit %d, stdout %q, stderr %q; want 1 and one line saying it does not exist", p, r.code, r.stdout, r.stderr)
		}
	}
	r := portcullis(t, "", nil, "evidence", "approve", filepath.Join(dir, "evidence-2026-12"), "--file", "f", "--reviewer", "r",
		"--status", "approved", "--note", "n", "--signing-key", key, "--etcd", "127.0.0.1:1")
	if r.code != 1 || strings.Contains(r.stderr, "removed") || !strings.Contains(r.stderr, "no such file or directory") {
		t.Errorf("evidence approve of a missing folder = exit %d, stderr %q; want 1 saying it does not exist", r.code, r.stderr)
	}
}

// review start --out told the reviewer "sign it with portcullis review
// sign --worksheet FILE", a command review sign refuses (--kind, --period,
// --reviewer, --decision and --note are required). It now prints the
// whole command, with the kind and period of the worksheet it wrote.
func TestReviewStartPrintsTheSignCommand(t *testing.T) {
	t.Parallel()
	data, tmp := t.TempDir(), t.TempDir()
	keyPath, _ := signingKeyFile(t)
	evidenceStore(t, data, keyPath, time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC))
	ws := filepath.Join(tmp, "access.csv")
	r := portcullis(t, "", nil, "review", "start", "access", "--period", "2026-Q2", "--data", data, "--policy", examplePolicy, "--out", ws)
	want := "portcullis review sign --kind access --period 2026-Q2 --worksheet " + ws + " --reviewer WHO --decision 'approved|changes-required' --note TEXT"
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("review start --out = exit %d, stdout %q, stderr %q; want it to print %q", r.code, r.stdout, r.stderr, want)
	}
}

// TestReviewStartQuotesTheSignCommand: the review sign command review
// start prints was not shell-quoted, and a worksheet path with a space or
// a $ printed a command that, pasted, named another file (or ran
// something else). Run through sh with printf for the program, the line
// now yields exactly the arguments meant.
func TestReviewStartQuotesTheSignCommand(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	keyPath, _ := signingKeyFile(t)
	evidenceStore(t, data, keyPath, time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC))
	dir := filepath.Join(t.TempDir(), "q2 $HOME `id` it's;x")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(dir, "access review.csv")
	r := portcullis(t, "", nil, "review", "start", "access", "--period", "2026-Q2", "--data", data, "--policy", examplePolicy, "--out", ws)
	_, line, ok := strings.Cut(r.stdout, "sign it with: portcullis ")
	if r.code != 0 || !ok {
		t.Fatalf("review start --out = exit %d, stdout %q, stderr %q; want the review sign command", r.code, r.stdout, r.stderr)
	}
	out, err := exec.Command("sh", "-c", `printf '%s\n' `+strings.TrimSuffix(line, "\n")).Output()
	if err != nil {
		t.Fatalf("sh -c of the printed line %q: %v", line, err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	want := []string{"review", "sign", "--kind", "access", "--period", "2026-Q2", "--worksheet", ws,
		"--reviewer", "WHO", "--decision", "approved|changes-required", "--note", "TEXT"}
	if !slices.Equal(got, want) {
		t.Errorf("the printed line %q runs with arguments\n%q\nwant\n%q", line, got, want)
	}
}

// TestPackAndReviewStartReadPortcullisEtcd: the commands that change etcd
// take $PORTCULLIS_ETCD (which 'portcullis dev' tells the user to export),
// but evidence pack and review start ignored it and refused to run without
// --etcd. Without --etcd and --policy they now read the policy from it;
// --policy still works with it set.
func TestPackAndReviewStartReadPortcullisEtcd(t *testing.T) {
	e := startEtcd(t)
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	doc, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := etcdadmin.New(cli, "/env-test").PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	keyPath, data := filepath.Join(tmp, "collector.key"), filepath.Join(tmp, "data")
	if err := collector.GenerateKey(keyPath); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	evidenceStore(t, data, keyPath, now)
	t.Setenv("PORTCULLIS_ETCD", strings.Join(e.Endpoints(), ","))
	from, to := now.AddDate(0, 0, -1).Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly)
	var stdout, stderr bytes.Buffer
	if code := evidencePack([]string{"--from", from, "--to", to, "--data", data, "--out", filepath.Join(tmp, "out"),
		"--prefix", "/env-test", "--signing-key", keyPath}, &stdout, &stderr); code != 0 {
		t.Fatalf("evidence pack with $PORTCULLIS_ETCD, without --etcd = exit %d\n%s%s", code, &stdout, &stderr)
	}
	ws := filepath.Join(tmp, "access.csv")
	if code := reviewStart([]string{"access", "--period", now.Format("2006"), "--data", data, "--prefix", "/env-test",
		"--out", ws}, &stdout, &stderr); code != 0 {
		t.Fatalf("review start with $PORTCULLIS_ETCD, without --etcd = exit %d\n%s%s", code, &stdout, &stderr)
	}
	if b, _ := os.ReadFile(ws); !strings.Contains(string(b), "acme-admin,") {
		t.Errorf("the worksheet read from etcd lacks acme-admin:\n%s", b)
	}
	if code := reviewStart([]string{"access", "--period", now.Format("2006"), "--data", data, "--policy", examplePolicy,
		"--out", filepath.Join(tmp, "access2.csv")}, &stdout, &stderr); code != 0 {
		t.Fatalf("review start --policy with $PORTCULLIS_ETCD set = exit %d\n%s%s", code, &stdout, &stderr)
	}

	// A range's worksheet is signed with the range: review sign took only
	// --period, and review start said a range had no sign-off.
	stdout.Reset()
	if code := reviewStart([]string{"access", "--from", from, "--to", to, "--data", data, "--prefix", "/env-test",
		"--out", ws}, &stdout, &stderr); code != 0 {
		t.Fatalf("review start --from --to = exit %d\n%s%s", code, &stdout, &stderr)
	}
	if want := "review sign --kind access --from " + from + " --to " + to + " --worksheet " + ws; !strings.Contains(stdout.String(), want) {
		t.Errorf("review start --from --to printed %q, want the command %q", &stdout, want)
	}
	args := []string{"--kind", "access", "--from", from, "--to", to, "--reviewer", "rita", "--decision", "approved",
		"--note", "keep all", "--worksheet", ws, "--prefix", "/env-test"}
	if code := etcdSub(t, "review sign").main(args, &stdout, &stderr); code != 0 {
		t.Fatalf("review sign --from --to = exit %d\n%s%s", code, &stdout, &stderr)
	}
	evs, err := etcdadmin.New(cli, "/env-test").ListEvents(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := evidence.ParseRange(from, to)
	found := false
	for _, ev := range evs {
		found = found || ev.Action == evidence.ActionReviewSign && ev.Target == "access-"+p.Name &&
			ev.Details["from"] == p.From.Format(time.RFC3339) && ev.Details["to"] == p.To.Format(time.RFC3339)
	}
	if !found {
		t.Errorf("no review.sign of access-%s with the range's bounds in %+v", p.Name, evs)
	}
}

// review start registered every flag of evidence pack, --owner-map among
// them: the owners of the manifest's rows, which a worksheet does not
// have, so it was read and ignored. It is now an unknown flag there.
func TestReviewStartRefusesOwnerMap(t *testing.T) {
	t.Parallel()
	data, tmp := t.TempDir(), t.TempDir()
	keyPath, _ := signingKeyFile(t)
	evidenceStore(t, data, keyPath, time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC))
	owners := filepath.Join(tmp, "owners")
	if err := os.WriteFile(owners, []byte("Auth = alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := portcullis(t, "", nil, "review", "start", "access", "--period", "2026-Q2", "--data", data, "--policy", examplePolicy,
		"--owner-map", owners, "--out", filepath.Join(tmp, "access.csv"))
	if r.code != 2 || !strings.Contains(r.stderr, "unknown flag --owner-map") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("review start --owner-map = exit %d, stderr %q; want exit 2 and one line naming the unknown flag", r.code, r.stderr)
	}
}
