package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/evidence"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	adminKey  = "pk_acmeadm1_DemoAcmeAdminSecret00000000000000001"
	globexKey = "pk_globexbi1_DemoGlobexBiSecret0000000000000001"
)

// sent is one request the test made through a sidecar and its answer,
// with the simulated times it was sent and answered.
type sent struct {
	sidecar, method, path, key string
	status                     int
	start, end                 time.Time
}

// simClock is the stack's wall clock in TestEvidencePackEndToEnd: the
// real clock moved by an offset the test sets, so that readings keep their
// order and spacing within a simulated day and the test moves to the next
// day in one call. The rate limiter and the decisions keep the real
// clocks.
type simClock struct{ off atomic.Int64 } // nanoseconds added to the real clock

// now reads the clock, in UTC without a monotonic reading.
func (c *simClock) now() time.Time {
	return time.Now().Add(time.Duration(c.off.Load())).UTC().Round(0)
}

// set moves the clock forward to at.
func (c *simClock) set(t *testing.T, at time.Time) {
	t.Helper()
	if now := c.now(); !now.Before(at) {
		t.Fatalf("the simulated clock reads %s, past %s", now, at)
	}
	c.off.Store(int64(time.Until(at)))
}

// traffic sends requests through the stack's sidecars and keeps each
// with its answer: what the pack must count.
type traffic struct {
	t    *testing.T
	now  func() time.Time  // the simulated clock
	pods map[string]string // sidecar address -> pod
	mu   sync.Mutex        // guards log
	log  []sent
}

func (tr *traffic) send(sidecar, method, path, key string) int {
	tr.t.Helper()
	req, _ := http.NewRequest(method, "http://"+sidecar+path, nil)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	start := tr.now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tr.t.Fatalf("%s %s via %s: %v", method, path, sidecar, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	tr.mu.Lock()
	tr.log = append(tr.log, sent{sidecar, method, path, key, resp.StatusCode, start, tr.now()})
	tr.mu.Unlock()
	return resp.StatusCode
}

// count returns how many requests in the log match.
func (tr *traffic) count(match func(s sent) bool) int {
	n := 0
	for _, s := range tr.log {
		if match(s) {
			n++
		}
	}
	return n
}

// firstStatus returns the first request to sidecar with key sent after
// after and answered status.
func (tr *traffic) firstStatus(sidecar, key string, status int, after time.Time) (sent, bool) {
	for _, s := range tr.log {
		if s.sidecar == sidecar && s.key == key && s.status == status && !s.start.Before(after) {
			return s, true
		}
	}
	return sent{}, false
}

// e2eDay is day d (1 to 4) of the simulated period, at midnight UTC:
// days 1 to 3 are the period, day 4 the morning the pack is made.
func e2eDay(d int) time.Time { return time.Date(2030, time.April, d, 0, 0, 0, 0, time.UTC) }

// TestEvidencePackEndToEnd is issue 15's done-when: a real period of
// activity on loopback (embedded etcd, the collector with detection and a
// ticket webhook, two sidecars pod-a and pod-b watching etcd and auditing
// to it, the demo service as upstream) with key create, rotate, revoke,
// a suspension and its resume, allowed, 401, 403 and 429 traffic, an
// alert ticketed and closed, a review signed, and a third member record
// (pod-stuck) that never applies the revocation. A simulated clock
// (simClock) dates the audit records, member records, lifecycle events
// and the store, and spreads the activity over three days, 2030-04-01 to
// 2030-04-03, the period of the pack (--from/--to); the request made the
// evening before is left out. Each day's events are in the store before
// the clock moves on. Then evidence pack runs on day 4 and every file's
// facts are checked against what was done, day by day; evidence verify
// passes, and a one-byte change in any file fails it.
func TestEvidencePackEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and the whole stack")
	}
	sim := new(simClock)
	sim.set(t, e2eDay(1).Add(-4*time.Hour)) // the evening before the period
	s := startDetectStackAt(t, nil, sim.now)
	a, pa, pb := s.admin, s.sidecars[0], s.sidecars[1]
	tr := &traffic{t: t, now: sim.now, pods: map[string]string{pa: "pod-a", pb: "pod-b"}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	data := filepath.Join(s.data, "audit")
	calls := map[string]time.Time{} // "action target" -> the simulated time just before the change
	change := func(action, target string, do func() error) {
		t.Helper()
		calls[action+" "+target] = sim.now()
		if err := do(); err != nil {
			t.Fatalf("%s %s: %v", action, target, err)
		}
	}
	// stored waits for the events named "action target" in the store, so
	// that they are observed on the simulated day they were made.
	stored := func(names ...string) {
		t.Helper()
		s.until(fmt.Sprintf("events %q in the store", names), func() bool {
			evs := storedEvents(t, data)
			return !slices.ContainsFunc(names, func(n string) bool {
				return !slices.ContainsFunc(evs, func(e collector.Event) bool { return e.Action+" "+e.Target == n })
			})
		})
	}

	// Before the period: one allowed request the pack must leave out.
	if got := tr.send(pa, "GET", "/v1/users", hrisKey); got != 200 {
		t.Fatalf("before the period: %d, want 200", got)
	}
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: strings.Split(s.etcd, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	head, err := cli.Get(ctx, e2ePrefix+"/policy")
	if err != nil {
		t.Fatal(err)
	}
	fromRev := head.Header.Revision // etcd's changes of the period come after it
	tr.log = nil

	// Day 1. Allowed traffic on both sidecars, a privileged change, a 403
	// for a missing scope, and a burst over acme-hris's limit (5/s, burst
	// 10); a key created (carol) and used.
	sim.set(t, e2eDay(1).Add(9*time.Hour))
	for i := range 3 {
		for _, sc := range s.sidecars {
			tr.send(sc, "GET", "/v1/users", hrisKey)
			tr.send(sc, "GET", "/v1/reports/"+strconv.Itoa(i), globexKey)
		}
	}
	tr.send(pa, "PUT", "/v1/admin/settings", adminKey)
	tr.send(pb, "PUT", "/v1/admin/settings", adminKey)
	if got := tr.send(pa, "PUT", "/v1/admin/settings", hrisKey); got != 403 {
		t.Fatalf("acme-hris on a privileged route: %d, want 403", got)
	}
	var burst sync.WaitGroup
	for range 30 {
		burst.Add(1)
		go func() { defer burst.Done(); tr.send(pb, "GET", "/v1/users", hrisKey) }()
	}
	burst.Wait()
	if tr.count(func(s sent) bool { return s.status == 429 }) == 0 {
		t.Fatal("the burst over acme-hris's limit was never throttled")
	}
	created := sim.now()
	k2, spec, err := a.CreateKey(ctx, "acme-hris", 0, etcdadmin.Meta{Actor: "carol", Ticket: "CHG-11", Reason: "new integration"})
	if err != nil {
		t.Fatal(err)
	}
	calls[etcdadmin.ActionKeyCreate+" "+spec.ID] = created
	// pod-gone: a sidecar up from 08:00 that never sends, and stops
	// (its lease revoked) on day 2: gone before the pack.
	goneLease, err := cli.Grant(ctx, 600)
	if err != nil {
		t.Fatal(err)
	}
	gone, _ := json.Marshal(etcdsync.Member{Pod: "pod-gone", Revision: 1, Started: e2eDay(1).Add(8 * time.Hour), Updated: sim.now()})
	if _, err := cli.Put(ctx, etcdsync.NewLayout(e2ePrefix).Member("pod-gone"), string(gone), clientv3.WithLease(goneLease.ID)); err != nil {
		t.Fatal(err)
	}
	for _, sc := range s.sidecars {
		s.until("the new key accepted on "+sc, func() bool { return tr.send(sc, "GET", "/v1/users/7", k2) == 200 })
	}
	stored(etcdadmin.ActionKeyCreate + " " + spec.ID)

	// Day 2. More traffic; the key rotated (dave, with an hour's overlap),
	// then the old key revoked (alice) with a stuck member that never
	// applies it; every live member applies it the same day.
	sim.set(t, e2eDay(2).Add(9*time.Hour))
	for _, sc := range s.sidecars {
		tr.send(sc, "GET", "/v1/users", hrisKey)
	}
	change(etcdadmin.ActionKeyRotate, spec.ID, func() error {
		_, _, err := a.RotateKey(ctx, spec.ID, time.Hour, etcdadmin.Meta{Actor: "dave", Ticket: "CHG-12", Reason: "moved to a vault"})
		return err
	})
	stuckRev := putStuckMember(t, ctx, cli, sim.now())
	revokeStart := sim.now()
	var revRev int64
	change(etcdadmin.ActionKeyRevoke, spec.ID, func() (err error) {
		revRev, err = a.RevokeKey(ctx, spec.ID, etcdadmin.Meta{Actor: "alice", Ticket: "SEC-9", Reason: "leaked in a ticket"})
		return err
	})
	for _, sc := range s.sidecars {
		s.until("the revoked key refused on "+sc, func() bool { return tr.send(sc, "GET", "/v1/users/7", k2) == 401 })
	}
	for _, pod := range []string{"pod-a", "pod-b"} {
		s.until(pod+"'s member record at the revocation", func() bool { return memberRevision(t, ctx, cli, pod) >= revRev })
	}
	stored(etcdadmin.ActionKeyRotate+" "+spec.ID, etcdadmin.ActionKeyRevoke+" "+spec.ID)
	if _, err := cli.Revoke(ctx, goneLease.ID); err != nil {
		t.Fatal(err)
	}

	// Day 3. A suspension (bob) enforced on both sidecars, then resumed;
	// token guessing: the alert and its ticket at the webhook; acme-hris
	// probing globex's paths: the collector's containment; the guessing
	// alert closed (erin); the review signed (rita).
	sim.set(t, e2eDay(3).Add(9*time.Hour))
	change(etcdadmin.ActionClientSuspend, "globex-bi", func() error {
		_, err := a.Suspend(ctx, "globex-bi", time.Hour, etcdadmin.Meta{Actor: "bob", Ticket: "SEC-10", Reason: "unpaid invoice"})
		return err
	})
	for _, sc := range s.sidecars {
		s.until("globex-bi suspended on "+sc, func() bool { return tr.send(sc, "GET", "/v1/reports/1", globexKey) == 403 })
	}
	change(etcdadmin.ActionClientResume, "globex-bi", func() error {
		return a.Resume(ctx, "globex-bi", etcdadmin.Meta{Actor: "bob", Ticket: "SEC-10", Reason: "paid"})
	})
	for _, sc := range s.sidecars {
		s.until("globex-bi resumed on "+sc, func() bool { return tr.send(sc, "GET", "/v1/reports/1", globexKey) == 200 })
	}
	for i := range 25 {
		tr.send(s.sidecars[i%2], "GET", "/v1/users", guessedKey)
	}
	// The guesses only alert (a key id is no secret); acme-hris asking for
	// globex's users is what the collector contains (tenant-probe).
	for i := range 6 {
		tr.send(s.sidecars[i%2], "GET", "/v1/tenants/globex/users", hrisKey)
	}
	var alertID string
	s.until("the guessing alert ticketed", func() bool {
		as := s.alerts("token-guessing-client")
		if len(as) == 1 && len(as[0].Tickets) == 1 {
			alertID = as[0].ID
		}
		return alertID != ""
	})
	var out, errOut bytes.Buffer
	closeCmd, signCmd := etcdSub(t, "alerts close"), etcdSub(t, "review sign")
	closeCmd.now, signCmd.now = sim.now, sim.now
	if code := closeCmd.main([]string{alertID, "--note", "guessing from one address", "--corrective-action", "source blocked",
		"--etcd", s.etcd, "--prefix", e2ePrefix, "--actor", "erin", "--data", data}, &out, &errOut); code != 0 {
		t.Fatalf("alerts close = %d: %s", code, &errOut)
	}
	calls["review.sign logs-2030-04"] = sim.now()
	if code := signCmd.main([]string{"--kind", "logs", "--period", "2030-04", "--reviewer", "rita", "--decision", "approved",
		"--note", "logs reviewed", "--ticket", "AUD-7", "--etcd", s.etcd, "--prefix", e2ePrefix}, &out, &errOut); code != 0 {
		t.Fatalf("review sign = %d: %s", code, &errOut)
	}

	// Every record and event of the period in the store, before the day
	// ends.
	p, err := evidence.ParseRange(e2eDay(1).Format(time.DateOnly), e2eDay(3).Format(time.DateOnly))
	if err != nil {
		t.Fatal(err)
	}
	want := int64(len(tr.log))
	s.until(fmt.Sprintf("the %d requests of the period in the store", want), func() bool {
		return storedRequests(t, data, p.From, p.To) == want
	})
	stored("review.sign logs-2030-04", "alert.close "+alertID, etcdadmin.ActionClientSuspend+" globex-bi", etcdadmin.ActionClientResume+" globex-bi",
		etcdadmin.ActionClientSuspend+" acme-hris") // the tenant-probe alert's containment
	if head, err = cli.Get(ctx, e2ePrefix+"/policy"); err != nil {
		t.Fatal(err)
	}
	toRev := head.Header.Revision

	// The store's signed head is in etcd under the prefix: the dev
	// collector publishes it there at its start and every minute, numbered
	// with the key's count, as a deployment's collector with --etcd does;
	// the pack's integrity proof checks the store against it. (The test
	// put head.json there by hand before the dev collector published: a
	// head with no count at a counted store's key now fails as a rollback,
	// TestVerifyFindsUncountedHeadOfCountedStore.)

	// Day 4: the pack of days 1 to 3.
	sim.set(t, e2eDay(4).Add(9*time.Hour))
	keyPath := filepath.Join(s.data, "audit-signing.key")
	outDir := t.TempDir()
	out.Reset()
	errOut.Reset()
	args := []string{"--from", e2eDay(1).Format(time.DateOnly), "--to", e2eDay(3).Format(time.DateOnly), "--data", data, "--out", outDir,
		"--etcd", s.etcd, "--prefix", e2ePrefix, "--signing-key", keyPath, "--retention", "400d"}
	if code := evidencePackAt(sim.now, args, &out, &errOut); code != 0 {
		t.Fatalf("evidence pack = exit %d\n%s%s", code, &out, &errOut)
	}
	if p.From != e2eDay(1) || p.To != e2eDay(4) {
		t.Fatalf("period %s to %s, want %s to %s", p.From, p.To, e2eDay(1), e2eDay(4))
	}
	dir := filepath.Join(outDir, "evidence-"+p.Name)
	file := func(area, name, ext string) string {
		return filepath.Join(dir, evidence.FileName(area, name, p.Name, ext))
	}
	events := storedEvents(t, data)
	e2e := &e2eCheck{t: t, tr: tr, dir: dir, file: file, events: events, calls: calls, fromRev: fromRev, toRev: toRev}

	t.Run("retention", func(t *testing.T) {
		// The dev collector keeps everything; the flag said 400d.
		e2e.contains(t, file("APILogging", "RetentionSettings", "md"), "Retention setting of the collector: keep all (0), recorded in the store's signed head",
			"MISMATCH: the --retention given to the pack says 400d, the store records keep all (0)", "Result: OK\n",
			"; read from etcd "+e2ePrefix+"/audit/head (seq ")
		if !strings.Contains(errOut.String(), "warning: --retention 400d disagrees with the store's recorded setting keep all (0)") {
			t.Errorf("evidence pack printed no warning for the retention mismatch: %q", &errOut)
		}
	})
	t.Run("lifecycle log", func(t *testing.T) { e2e.lifecycle(t, a, spec.ID) })
	t.Run("revocations", func(t *testing.T) { e2e.revocations(t, spec.ID, k2, revRev, stuckRev, revokeStart) })
	t.Run("throttling and shares", func(t *testing.T) { e2e.throttling(t) })
	t.Run("throttling per day", func(t *testing.T) { e2e.throttlingDays(t) })
	t.Run("scopes and privileged", func(t *testing.T) { e2e.scopes(t) })
	t.Run("alerts and reviews", func(t *testing.T) { e2e.alertsAndReviews(t, alertID) })
	t.Run("index and scan", func(t *testing.T) {
		e2e.contains(t, filepath.Join(dir, "index.html"), fmt.Sprintf("%d records, ", want))
		e2e.contains(t, file("APILogging", "CredentialScan", "md"), fmt.Sprintf("Records scanned: %d. Records matching a credential pattern: 0.", want), "Result: PASS")
	})
	t.Run("silence", func(t *testing.T) {
		// pod-stuck's member record (a real lease in a real etcd) says
		// it was live from day 2 on, and it never sent a batch; pod-a
		// and pod-b sent only in the mornings. Before, the pack said
		// nothing of either (TestPackTellsOfLiveSidecarsThatStoppedSending).
		never := `"pod-stuck" (live from `
		e2e.contains(t, file("APILogging", "RetentionSettings", "md"), never, `"pod-a" (token:`, `"pod-b" (token:`, `): no batch stored `)
		if !strings.Contains(errOut.String(), never) {
			t.Errorf("evidence pack printed no warning naming pod-stuck's silence: %q", &errOut)
		}
		// pod-gone was up from day 1 08:00 and stopped on day 2 after
		// pod-a and pod-b published the revocation: only etcd's history
		// of its record names it. Before, the pack said nothing of it.
		// It counts as up until the collector's first reading of etcd
		// after its delete: the suspension's event, read on day 3.
		goneText := `(by their member records in etcd) have no batch holding a record of the period in the store: "pod-gone" (live 2030-04-01T08:00:00Z to 2030-04-03T09:`
		e2e.contains(t, file("APILogging", "RetentionSettings", "md"), goneText, "(gone before the pack: its member record deleted at etcd revision ")
		if !strings.Contains(errOut.String(), goneText) {
			t.Errorf("evidence pack printed no warning naming pod-gone's silence: %q", &errOut)
		}
	})
	t.Run("verify and tamper", func(t *testing.T) { e2e.tamper(t, keyPath+".pub") })
}

// memberRevision returns the revision pod's member record names, 0 when
// there is none.
func memberRevision(t *testing.T, ctx context.Context, cli *clientv3.Client, pod string) int64 {
	resp, err := cli.Get(ctx, etcdsync.NewLayout(e2ePrefix).Member(pod))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return 0
	}
	m, err := etcdsync.DecodeMember(resp.Kvs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	return m.Revision
}

// putStuckMember writes a leased member record for pod-stuck naming the
// current revision, as a sidecar cut off from etcd leaves it, and
// returns that revision.
func putStuckMember(t *testing.T, ctx context.Context, cli *clientv3.Client, now time.Time) int64 {
	t.Helper()
	lease, err := cli.Grant(ctx, 600)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := cli.Get(ctx, e2ePrefix+"/policy")
	if err != nil {
		t.Fatal(err)
	}
	rev := cur.Header.Revision
	m, _ := json.Marshal(etcdsync.Member{Pod: "pod-stuck", Revision: rev, Started: now, Updated: now})
	if _, err := cli.Put(ctx, etcdsync.NewLayout(e2ePrefix).Member("pod-stuck"), string(m), clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	return rev
}

// storedRequests sums the requests the store's records in [from, to)
// stand for.
func storedRequests(t *testing.T, data string, from, to time.Time) int64 {
	var n int64
	err := collector.QueryRecords(data, collector.Filter{From: from, To: to}, func(r *collector.StoredRecord) error {
		n += max(r.Count, 1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func storedEvents(t *testing.T, data string) []collector.Event {
	var out []collector.Event
	if err := collector.QueryEvents(data, time.Time{}, time.Time{}, func(e *collector.Event) error { out = append(out, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// e2eCheck holds what TestEvidencePackEndToEnd checks the pack against.
type e2eCheck struct {
	t       *testing.T
	tr      *traffic
	dir     string
	file    func(area, name, ext string) string
	events  []collector.Event
	calls   map[string]time.Time // "action target" -> the simulated time just before the test made the change
	fromRev int64                // etcd's revision at from
	toRev   int64                // and at to
}

func (c *e2eCheck) contains(t *testing.T, path string, wants ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wants {
		if !strings.Contains(string(b), w) {
			t.Errorf("%s lacks %q:\n%s", filepath.Base(path), w, b)
		}
	}
}

func (c *e2eCheck) csv(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// event returns the stored event of action on target.
func (c *e2eCheck) event(t *testing.T, action, target string) collector.Event {
	t.Helper()
	for _, e := range c.events {
		if e.Action == action && e.Target == target {
			return e
		}
	}
	t.Fatalf("no %s event for %s in the store", action, target)
	return collector.Event{}
}

// lifecycle checks the token lifecycle log names every credential change
// etcd holds for the period, with its actor, ticket and etcd revision, and
// nothing else; among them the test's own.
func (c *e2eCheck) lifecycle(t *testing.T, a *etcdadmin.Admin, keyID string) {
	rows := c.csv(t, c.file("APIAuth", "TokenLifecycleLog", "csv"))
	var got []string
	for _, r := range rows[1:] {
		if r[1] == "policy key" || r[1] == "key age" { // the policy's keys and their ages, not events
			continue
		}
		got = append(got, strings.Join([]string{r[6], r[1], r[2], r[3], r[4]}, " "))
		ev := c.event(t, r[1], r[2])
		if r[6] != strconv.FormatInt(ev.Revision, 10) || r[0] != ev.Time.UTC().Format(time.RFC3339) || r[7] != "" {
			t.Errorf("lifecycle row %q: want etcd revision %d, time %s, verified", r, ev.Revision, ev.Time.UTC().Format(time.RFC3339))
		}
		if at, ok := c.calls[r[1]+" "+r[2]]; ok {
			c.sameDay(t, "lifecycle row "+r[1]+" "+r[2], r[0], at)
			delete(c.calls, r[1]+" "+r[2]) // each change once
		}
	}
	// Event keys sort by a time rounded down to the second, so the
	// period's events are those after etcd's revision at its start.
	evs, err := a.ListEvents(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range evs {
		if e.Revision <= c.fromRev || e.Revision > c.toRev {
			continue
		}
		switch e.Action {
		case etcdadmin.ActionKeyCreate, etcdadmin.ActionKeyRotate, etcdadmin.ActionKeyRevoke, etcdadmin.ActionTokenRevoke,
			etcdadmin.ActionClientSuspend, etcdadmin.ActionClientResume:
			want = append(want, strings.Join([]string{strconv.FormatInt(e.Revision, 10), e.Action, e.Target, e.Actor, e.Ticket}, " "))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("lifecycle log:\n%s\nwant etcd's changes of the period:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for name := range c.calls {
		if name != "review.sign logs-2030-04" {
			t.Errorf("lifecycle log has no row for the test's %s", name)
		}
	}
	all := strings.Join(got, "\n")
	for _, w := range []string{"key.create " + keyID + " carol CHG-11", "key.rotate " + keyID + " dave CHG-12", "key.revoke " + keyID + " alice SEC-9",
		"client.suspend globex-bi bob SEC-10", "client.resume globex-bi bob SEC-10"} {
		if !strings.Contains(all, w) {
			t.Errorf("lifecycle log lacks %q:\n%s", w, all)
		}
	}
}

// revocations checks the revocation of the new key: its first denial
// overall and by each sidecar is the first 401 the test saw from it, and
// each live member says when it applied the revision (pod-stuck flagged).
func (c *e2eCheck) revocations(t *testing.T, keyID, key string, rev, stuckRev int64, start time.Time) {
	rows := c.csv(t, c.file("APIAuth", "RevocationRecords", "csv"))
	var ev []string
	members := map[string][]string{}
	for _, r := range rows[1:] {
		if r[1] != etcdadmin.ActionKeyRevoke || r[2] != keyID {
			continue
		}
		if r[9] == "" {
			ev = r
		} else {
			members[r[9]] = r
		}
	}
	if ev == nil {
		t.Fatalf("no revocation row for %s in %q", keyID, rows)
	}
	if ev[3] != "alice" || ev[4] != "SEC-9" || ev[5] != "leaked in a ticket" || ev[6] != strconv.FormatInt(rev, 10) {
		t.Errorf("revocation row %q: want alice, SEC-9, the reason and etcd revision %d", ev, rev)
	}
	if want := fmt.Sprintf("2 of 3 live sidecars applied revision %d; NOT ACKNOWLEDGED by 1", rev); ev[13] != want {
		t.Errorf("propagation summary %q, want %q", ev[13], want)
	}
	var firsts []string
	var earliest time.Time
	for sc, pod := range c.tr.pods {
		s, ok := c.tr.firstStatus(sc, key, 401, start)
		if !ok {
			t.Fatalf("the test saw no 401 for the revoked key from %s", pod)
		}
		// The record's time is when the sidecar read the request: between
		// the test's send and its answer, at the second.
		// "time (sender)": the pod name is the sender's to write, so the
		// pack names the sender that claimed it (TestForgedPodNamesItsSender).
		m := members[pod]
		denial, sender, _ := strings.Cut(strings.TrimSuffix(m[12], ")"), " (")
		got, err := time.Parse(time.RFC3339, denial)
		if err != nil || got.Before(s.start.Truncate(time.Second)) || got.After(s.end) || !strings.HasPrefix(sender, "token:") {
			t.Errorf("%s: first denial %q, want the first 401 the test saw, sent %s, answered %s, and the token that sent it", pod, m[12], s.start, s.end)
		}
		c.sameDay(t, pod+"'s first denial", denial, start)
		firsts = append(firsts, pod+" ("+sender+")="+denial)
		if earliest.IsZero() || got.Before(earliest) {
			earliest = got
		}
		applied, _ := strconv.ParseInt(m[10], 10, 64)
		if m[13] != "applied" || applied < rev {
			t.Errorf("%s: member row %q, want applied at revision %d or later", pod, m, rev)
		}
		c.sameDay(t, pod+"'s member record applying the revocation", m[11], start)
	}
	slices.Sort(firsts)
	if ev[8] != strings.Join(firsts, " ") || ev[7] != earliest.Format(time.RFC3339) {
		t.Errorf("first denials %q / %q, want %q / %s", ev[7], ev[8], firsts, earliest.Format(time.RFC3339))
	}
	stuck := members["pod-stuck"]
	if stuck == nil || stuck[10] != strconv.FormatInt(stuckRev, 10) || !strings.HasPrefix(stuck[13], "NOT ACKNOWLEDGED") || stuck[11] != "" {
		t.Errorf("pod-stuck row %q: want flagged NOT ACKNOWLEDGED at revision %d", stuck, stuckRev)
	}
}

// throttling checks the 401/403/429 counts per tenant and the tenants'
// shares against the requests the test made.
func (c *e2eCheck) throttling(t *testing.T) {
	rows := c.csv(t, c.file("APIRateLimits", "ThrottlingSample", "csv"))
	got := map[string]int{}      // status -> count, all tenants
	byTenant := map[string]int{} // tenant/status
	shares := map[string]int{}
	for _, r := range rows[1:] {
		n, _ := strconv.Atoi(r[4])
		switch r[0] {
		case "daily_count":
			got[r[3]] += n
			byTenant[r[2]+"/"+r[3]] += n
		case "tenant_share":
			shares[r[2]] = n
		}
	}
	status := func(code int) int { return c.tr.count(func(s sent) bool { return s.status == code }) }
	for _, code := range []int{401, 403, 429} {
		if got[strconv.Itoa(code)] != status(code) {
			t.Errorf("%d count = %d, want %d (the test's requests answered %d)", code, got[strconv.Itoa(code)], status(code), code)
		}
	}
	globex403 := c.tr.count(func(s sent) bool { return s.key == globexKey && s.status == 403 })
	acme429 := c.tr.count(func(s sent) bool { return s.key != guessedKey && s.key != globexKey && s.status == 429 })
	if byTenant["globex/403"] != globex403 || byTenant["acme/429"] != acme429 {
		t.Errorf("globex 403s %d, acme 429s %d; want %d and %d", byTenant["globex/403"], byTenant["acme/429"], globex403, acme429)
	}
	globex := c.tr.count(func(s sent) bool { return s.key == globexKey })
	total := 0
	for _, n := range shares {
		total += n
	}
	if shares["globex"] != globex || total != len(c.tr.log) {
		t.Errorf("tenant shares %v: want globex %d of %d requests", shares, globex, len(c.tr.log))
	}
}

// scopes checks acme-hris's use of read:users and acme-admin's privileged
// changes.
func (c *e2eCheck) scopes(t *testing.T) {
	hris := c.tr.count(func(s sent) bool {
		return s.status == 200 && s.method == "GET" && strings.HasPrefix(s.path, "/v1/users") && s.key != adminKey && s.key != globexKey
	})
	for _, r := range c.csv(t, c.file("APIAuth", "ScopeRoleMatrix", "csv"))[1:] {
		if r[0] == "acme-hris" && r[3] == "read:users" && r[5] != strconv.Itoa(hris) {
			t.Errorf("acme-hris read:users used %s times, want %d", r[5], hris)
		}
		if r[0] == "acme-hris" && r[3] == "write:records" && r[8] != "scope granted but never used in period" {
			t.Errorf("acme-hris write:records finding %q", r[8])
		}
	}
	rows := c.csv(t, c.file("APIPrivileged", "PrivilegedAccess", "csv"))
	puts := c.tr.count(func(s sent) bool { return s.key == adminKey && s.status == 200 })
	for _, r := range rows[1:] {
		if r[0] == "acme-admin" && (r[4] != strconv.Itoa(puts) || r[6] != "acmeadm1" || r[7] != "PUT /v1/admin/settings" || r[8] != "127.0.0.1") {
			t.Errorf("acme-admin privileged row %q, want %d uses, last by acmeadm1 from 127.0.0.1", r, puts)
		}
	}
}

// alertsAndReviews checks the guessing alert's sample (ticket, closure)
// and the review sign-off.
func (c *e2eCheck) alertsAndReviews(t *testing.T, id string) {
	c.contains(t, c.file("APIAbuse", "AlertToTicketSample", "md"), "## Alert "+id, "ticket: secops SEC-", "closure note: guessing from one address",
		"corrective action: source blocked", "status: closed")
	rows := c.csv(t, c.file("APIGovernance", "ReviewRecords", "csv"))
	ev := c.event(t, "review.sign", "logs-2030-04")
	want := []string{ev.Time.UTC().Format(time.RFC3339), "review.sign", "logs-2030-04", "rita", "approved", "logs reviewed", "AUD-7", "", strconv.FormatInt(ev.Revision, 10), ""}
	if len(rows) != 2 || !slices.Equal(rows[1], want) {
		t.Errorf("review records %q, want one row %q", rows, want)
	}
	c.sameDay(t, "the review's time", rows[len(rows)-1][0], c.calls["review.sign logs-2030-04"])
}

// tamper checks evidence verify passes, then fails on a one-byte change
// in each file of the pack, naming it.
func (c *e2eCheck) tamper(t *testing.T, pub string) {
	verify := func() (int, string) {
		var o, e bytes.Buffer
		code := evidenceVerify([]string{c.dir, "--public-key", pub}, &o, &e)
		return code, o.String() + e.String()
	}
	if code, out := verify(); code != 0 {
		t.Fatalf("evidence verify of the pack = %d: %s", code, out)
	}
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		path := filepath.Join(c.dir, e.Name())
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		changed := bytes.Clone(orig)
		changed[len(changed)/2] ^= 0x01
		os.WriteFile(path, changed, 0o644)
		code, out := verify()
		if code != 1 || !strings.Contains(out, e.Name()) && e.Name() != evidence.ManifestSig {
			t.Errorf("a one-byte change in %s: evidence verify = %d, %q; want a failure naming it", e.Name(), code, out)
		}
		os.WriteFile(path, orig, 0o644)
	}
	if code, out := verify(); code != 0 {
		t.Errorf("evidence verify after restoring every file = %d: %s", code, out)
	}
}

// sameDay checks that the RFC 3339 time got, a pack's time of what the
// test did at the simulated time at, is at or after at (to the second) on
// the same simulated day.
func (c *e2eCheck) sameDay(t *testing.T, what, got string, at time.Time) {
	t.Helper()
	g, err := time.Parse(time.RFC3339, got)
	if err != nil || g.Before(at.Truncate(time.Second)) || !g.Before(at.Truncate(24*time.Hour).AddDate(0, 0, 1)) {
		t.Errorf("%s is %q, want a time from %s on that day", what, got, at.Format(time.RFC3339))
	}
}

// throttlingDays checks the 401/403/429 counts per tenant per day against
// the days the test sent its requests on: every day of the period with a
// denial, and no other.
func (c *e2eCheck) throttlingDays(t *testing.T) {
	got := map[string]int{} // "day tenant status" -> count
	for _, r := range c.csv(t, c.file("APIRateLimits", "ThrottlingSample", "csv"))[1:] {
		if r[0] == "daily_count" {
			n, err := strconv.Atoi(r[4])
			if err != nil {
				t.Fatalf("daily count row %q: %v", r, err)
			}
			got[r[1]+" "+r[2]+" "+r[3]] += n
		}
	}
	want := map[string]int{}
	for _, s := range c.tr.log {
		if s.status == 401 || s.status == 403 || s.status == 413 || s.status == 429 {
			tenant := e2eTenant(s.key)
			if s.status == 401 {
				tenant = "" // an unauthenticated request has no tenant
			}
			want[s.start.Format(time.DateOnly)+" "+tenant+" "+strconv.Itoa(s.status)]++
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("daily counts %v, want %v", got, want)
	}
	c.indexDays(t)
	for _, d := range []int{1, 2, 3} {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(got)), func(k string) bool { return strings.HasPrefix(k, e2eDay(d).Format(time.DateOnly)) }) {
			t.Errorf("daily counts %v name no denial on day %d", got, d)
		}
	}
}

// e2eTenant is the tenant the test's key belongs to.
func e2eTenant(key string) string {
	if key == globexKey {
		return "globex"
	}
	return "acme"
}

// indexDays checks the per-day chart of index.html: each day's allowed,
// 401, 403 and 429 counts are the answers the test received that day.
func (c *e2eCheck) indexDays(t *testing.T) {
	var wants []string
	for _, d := range []int{1, 2, 3} {
		day := e2eDay(d).Format(time.DateOnly)
		onDay := func(match func(s sent) bool) int {
			return c.tr.count(func(s sent) bool { return s.start.Format(time.DateOnly) == day && match(s) })
		}
		wants = append(wants, fmt.Sprintf("<title>%s allowed: %d</title>", day, onDay(func(s sent) bool { return s.status < 400 })))
		for _, code := range []int{401, 403, 429} {
			wants = append(wants, fmt.Sprintf("<title>%s %d: %d</title>", day, code, onDay(func(s sent) bool { return s.status == code })))
		}
	}
	c.contains(t, filepath.Join(c.dir, "index.html"), wants...)
}
