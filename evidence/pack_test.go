package evidence

import (
	"archive/zip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

func TestParsePeriod(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		in       string
		from, to time.Time
	}{
		{"2026-Q2", day(2026, 4, 1), day(2026, 7, 1)},
		{"2026-Q4", day(2026, 10, 1), day(2027, 1, 1)},
		{"2026-05", day(2026, 5, 1), day(2026, 6, 1)},
		{"2026", day(2026, 1, 1), day(2027, 1, 1)},
	}
	for _, tt := range tests {
		got, err := ParsePeriod(tt.in)
		if err != nil || !got.From.Equal(tt.from) || !got.To.Equal(tt.to) || got.Name != tt.in {
			t.Errorf("ParsePeriod(%q) = %+v, %v; want [%v, %v)", tt.in, got, err, tt.from, tt.to)
		}
	}
	for _, bad := range []string{"2026-Q5", "2026-Q0", "2026-13", "26", "Q2", ""} {
		if _, err := ParsePeriod(bad); err == nil {
			t.Errorf("ParsePeriod(%q) accepted", bad)
		}
	}
	got, err := ParseRange("2026-04-01", "2026-04-30")
	if err != nil || !got.From.Equal(day(2026, 4, 1)) || !got.To.Equal(day(2026, 5, 1)) || got.Name != "2026-04-01_2026-04-30" {
		t.Errorf("ParseRange = %+v, %v", got, err)
	}
	if _, err := ParseRange("2026-05-01", "2026-04-01"); err == nil {
		t.Error("ParseRange accepted a range that ends before it starts")
	}
}

// leakedSecret is a credential a client put in its User-Agent: the scan
// must find it and never copy it.
const leakedSecret = "abcdefghijklmnopqrstuvwxyz012345"

// injection is a client id a hostile sender could put in a record: a
// spreadsheet formula.
const injection = "=HYPERLINK(\"http://evil.example\",\"x\")"

// activity writes a real period of records and events through the
// collector's store: acme-hris reads users three times (never writes
// records), acme-admin changes settings once, globex-bi never calls,
// acme is throttled twice (once by a client named like a formula),
// acmehris1 is revoked and then denied, and one record lies after the
// period.
func activity(t *testing.T, dir string, key ed25519.PrivateKey) {
	t.Helper()
	// The store's first entry (the lifecycle events) is stored when Q2
	// began; the batches arrive after the records they hold, as they do
	// from a sidecar: a use counts no later than its receipt
	// (TestLastUseNeverAfterReceipt), and records received on April 1
	// counted then.
	clock := sinceQ2()
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	at := func(d int, h int) time.Time { return time.Date(2026, 5, d, h, 0, 0, 0, time.UTC) }
	rec := func(tm time.Time, client, keyID, method, route string, status int64, decision string) collector.StoredRecord {
		return collector.StoredRecord{Time: tm, Tenant: "acme", Client: client, KeyID: keyID, Method: method, Route: route,
			Path: route, Status: status, Decision: decision, RequestID: "r-" + tm.Format("0215"), SourceIP: "192.0.2.7"}
	}
	batch := &collector.Batch{ID: "b1", Sender: "token:sidecar-1", Records: []collector.StoredRecord{
		rec(at(3, 9), "acme-hris", "acmehris1", "GET", "/v1/users", 200, "allowed"),
		rec(at(3, 10), "acme-hris", "acmehris1", "GET", "/v1/users/{id}", 200, "allowed"),
		rec(at(4, 9), "acme-hris", "acmehris1", "GET", "/v1/users", 200, "allowed"),
		rec(at(5, 9), "acme-admin", "acmeadm1", "PUT", "/v1/admin/settings", 200, "allowed"),
		rec(at(6, 9), "acme-hris", "acmehris1", "GET", "/v1/users", 429, "rate_limited"),
		rec(at(6, 10), injection, "", "GET", "/v1/users", 429, "rate_limited"),
		rec(time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC), "globex-bi", "globexbi1", "GET", "/v1/reports/{id}", 200, "allowed"),
	}}
	ev := func(d, h int, action, target, actor, ticket, reason string, details map[string]string) collector.Event {
		raw, _ := json.Marshal(details)
		return collector.Event{Time: at(d, h), Key: "/p/events/" + action + target, Revision: int64(100*d + h), Actor: actor,
			Action: action, Target: target, Ticket: ticket, Reason: reason, Details: raw}
	}
	lifecycle := []collector.Event{
		ev(2, 9, "key.create", "acmehris2", "carol", "CHG-11", "new integration", map[string]string{"client": "acme-hris"}),
		ev(2, 10, "key.rotate", "acmeadm1", "dave", "", "", map[string]string{"client": "acme-admin"}),
		ev(6, 11, "alert.open", "A-1", "collector", "", "", map[string]string{"rule": "acme-429", "kind": "rate_limit_spike",
			"severity": "high", "group": "tenant", "key": "acme", "tenant": "acme", "count": "2", "first_seen": at(6, 9).Format(time.RFC3339Nano)}),
		ev(6, 12, "alert.ticket", "A-1", "collector", "", "", map[string]string{"sink": "jira", "ticket": "SEC-101"}),
		ev(30, 17, "review.sign", "access-2026-Q2", "rita", "AUD-1", "acme-admin keeps its scopes",
			map[string]string{"kind": "access", "decision": "approved", "worksheet_sha256": "abc123"}),
		ev(7, 9, "alert.close", "A-1", "erin", "", "acme's batch job ran twice", map[string]string{"corrective_action": "job deduplicated"}),
	}
	if err := st.AppendEvents(lifecycle); err != nil {
		t.Fatal(err)
	}
	clock = time.Date(2026, 7, 3, 0, 0, 0, 0, time.UTC) // past the segment's age: the batches open a second one
	if err := st.AppendBatch(batch); err != nil {
		t.Fatal(err)
	}
	revoke := collector.Event{Time: at(10, 12), Key: "/p/events/1", Revision: 41, Actor: "alice", Action: "key.revoke",
		Target: "acmehris1", Reason: "leaked in a ticket", Ticket: "SEC-9"}
	if err := st.AppendEvents([]collector.Event{revoke}); err != nil {
		t.Fatal(err)
	}
	leaked := rec(at(11, 9), "", "", "GET", "/v1/status", 200, "allowed")
	leaked.UserAgent, leaked.RequestID = "curl/8 Bearer "+leakedSecret, "r-leak"
	denied := &collector.Batch{ID: "b2", Sender: "token:sidecar-1", Records: []collector.StoredRecord{
		rec(at(10, 13), "", "acmehris1", "GET", "/v1/users", 401, "key_revoked"),
		leaked,
	}}
	globex := rec(at(12, 8), "", "", "GET", "/v1/reports/{id}", 401, "unauthenticated")
	globex.Tenant = "globex"
	other := &collector.Batch{ID: "b3", Sender: "token:sidecar-2", Pod: "pod-b", Records: []collector.StoredRecord{
		rec(at(10, 12).Add(30*time.Second), "", "acmehris1", "GET", "/v1/users", 401, "key_revoked"),
		globex,
	}}
	for _, b := range []*collector.Batch{denied, other} {
		if err := st.AppendBatch(b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// sinceQ2 is the clock of the test stores that stand for a collector
// running since 2026-Q2 began: a store holds nothing of the time before
// its first entry, and a pack of a period before it says so
// (TestPackSaysWhenTheStoreBegan).
func sinceQ2() time.Time { return time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC) }

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Every row as many cells as the header: a reader as strict as
	// Go's or a spreadsheet's import refuses a short row, and a row one
	// short puts its cells under the wrong heading (before, the key age
	// rows of the token lifecycle log lacked the approval column).
	r := csv.NewReader(f)
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

// TestPackFromStore builds a pack from a real store and the example
// policy file and checks each file's facts against the activity.
func TestPackFromStore(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	activity(t, data, key)
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod("2026-Q2")
	if err != nil {
		t.Fatal(err)
	}
	// The member records of two live sidecars as etcd held them: pod-b
	// applied revision 43 (after the revocation at 41) at 12:00:20; pod-c
	// is stuck at revision 40 (TestMemberTrailsAcknowledgeRevocation and
	// the end-to-end test read them from a real etcd).
	at := func(h, m, s int) time.Time { return time.Date(2026, 5, 10, h, m, s, 0, time.UTC) }
	since := int64(0)
	members := func(s int64) ([]etcdadmin.MemberTrail, []string, error) {
		since = s
		return []etcdadmin.MemberTrail{
			{Pod: "pod-b", Versions: []etcdsync.Member{{Pod: "pod-b", Revision: 39, Updated: at(9, 0, 0)}, {Pod: "pod-b", Revision: 43, Updated: at(12, 0, 20)}}},
			{Pod: "pod-c", Versions: []etcdsync.Member{{Pod: "pod-c", Revision: 40, Updated: at(11, 0, 0)}}},
		}, nil, nil
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out, SigningKey: key, Retention: "400d",
		Owners: map[string]string{"Auth": "iam-team@example.com"}, Members: members,
		// activity stores every batch at one instant; the sidecars'
		// silence is TestPackTellsOfLiveSidecarsThatStoppedSending's.
		Silence: 100 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("names", func(t *testing.T) {
		want := []string{"APIAuth-AuthenticationStandard-2026-Q2.md", "APIAuth-ScopeRoleMatrix-2026-Q2.csv",
			"APIAuth-RevocationRecords-2026-Q2.csv", "APIAuth-TokenLifecycleLog-2026-Q2.csv", "APIRateLimits-GatewayConfigExport-2026-Q2.json",
			"APIRateLimits-ThrottlingSample-2026-Q2.csv", "APILogging-RetentionSettings-2026-Q2.md", "APILogging-CredentialScan-2026-Q2.md",
			"APIAbuse-AlertToTicketSample-2026-Q2.md",
			"APIPrivileged-PrivilegedAccess-2026-Q2.csv", "APIPrivileged-ApprovalSamples-2026-Q2.csv", "APIGovernance-ReviewRecords-2026-Q2.csv", "APIGovernance-ISO27017Checklist-2026-Q2.md", "APIRunbook-TokenCompromise-v1.0.md", "index.html"}
		var got []string
		for _, f := range res.Files {
			got = append(got, f.File)
		}
		if !slices.Equal(got, want) {
			t.Errorf("files = %q, want %q", got, want)
		}
	})

	t.Run("scope matrix", func(t *testing.T) {
		rows := readCSV(t, filepath.Join(res.Dir, "APIAuth-ScopeRoleMatrix-2026-Q2.csv"))
		find := func(client, scope string) []string {
			for _, r := range rows {
				if r[0] == client && r[3] == scope {
					return r
				}
			}
			t.Fatalf("no row for %s %s in %q", client, scope, rows)
			return nil
		}
		tests := []struct {
			client, scope, uses, clientUses, finding string
		}{
			{"acme-hris", "read:users", "3", "3", ""},
			{"acme-hris", "write:records", "0", "3", "scope granted but never used in period"},
			{"acme-admin", "admin:settings", "1", "1", "privileged scope held"},
			{"acme-admin", "export:data", "0", "1", "scope granted but never used in period; privileged scope held"},
			{"globex-bi", "read:reports", "0", "0", "integration unused in period"},
		}
		for _, tt := range tests {
			r := find(tt.client, tt.scope)
			if r[5] != tt.uses || r[6] != tt.clientUses || r[8] != tt.finding {
				t.Errorf("%s %s: uses %s/%s finding %q, want %s/%s %q", tt.client, tt.scope, r[5], r[6], r[8], tt.uses, tt.clientUses, tt.finding)
			}
		}
		if r := find("acme-hris", "read:users"); r[7] != "2026-05-04T09:00:00Z" || r[1] != "hr-integrations@acme.example" {
			t.Errorf("acme-hris last used %q owner %q", r[7], r[1])
		}
	})

	t.Run("throttling and injection", func(t *testing.T) {
		rows := readCSV(t, filepath.Join(res.Dir, "APIRateLimits-ThrottlingSample-2026-Q2.csv"))
		var daily, samples int
		var clients, shares []string
		for _, r := range rows[1:] {
			switch r[0] {
			case "daily_count":
				if r[2] == allTenants && r[4] == "0" {
					continue // a quiet day (TestThrottlingSampleHasQuietDays)
				}
				daily++
				if r[1] == "2026-05-06" && (r[3] != "429" || r[4] != "2") {
					t.Errorf("daily count row %q, want 2 429s on 2026-05-06", r)
				}
			case "tenant_share":
				shares = append(shares, r[2]+"="+r[4]+"/"+r[12])
			case "sample_429":
				samples++
				clients = append(clients, r[6])
			}
		}
		if daily != 3 || samples != 2 {
			t.Errorf("daily rows %d samples %d, want 3 and 2 (429s on 05-06, acme's 401s on 05-10, globex's on 05-12)", daily, samples)
		}
		if want := []string{"acme=9/90.0", "globex=1/10.0"}; !slices.Equal(shares, want) {
			t.Errorf("tenant shares = %q, want %q", shares, want)
		}
		if !slices.Contains(clients, "'"+injection) {
			t.Errorf("sample clients %q: the formula is not neutralised", clients)
		}
	})

	t.Run("revocations", func(t *testing.T) {
		rows := readCSV(t, filepath.Join(res.Dir, "APIAuth-RevocationRecords-2026-Q2.csv"))
		ev := []string{"2026-05-10T12:00:00Z", "key.revoke", "acmehris1", "alice", "SEC-9", "leaked in a ticket", "41"}
		want := [][]string{
			append(ev[:7:7], "2026-05-10T12:00:30Z", "pod-b (token:sidecar-2)=2026-05-10T12:00:30Z token:sidecar-1=2026-05-10T13:00:00Z", "", "", "", "",
				"1 of 2 live sidecars applied revision 41; NOT ACKNOWLEDGED by 1"),
			append(ev[:7:7], "", "", "pod-b", "43", "2026-05-10T12:00:20Z", "2026-05-10T12:00:30Z (token:sidecar-2)", "applied"),
			append(ev[:7:7], "", "", "pod-c", "40", "", "", "NOT ACKNOWLEDGED: its member record names revision 40 (updated 2026-05-10T11:00:00Z), before 41"),
		}
		if !slices.EqualFunc(rows[1:], want, slices.Equal) {
			t.Errorf("revocations = %q, want %q", rows[1:], want)
		}
		if since != 41 {
			t.Errorf("member records read back to revision %d, want 41 (the period's revocation)", since)
		}
	})

	t.Run("auth standard and integrity", func(t *testing.T) {
		std, _ := os.ReadFile(filepath.Join(res.Dir, "APIAuth-AuthenticationStandard-2026-Q2.md"))
		if !strings.Contains(string(std), hist[0].Digest) || !strings.Contains(string(std), "| privileged | privileged |") ||
			!strings.Contains(string(std), "`X-API-Key` header, formatted `pk_<id>_<secret>`") {
			t.Errorf("authentication standard lacks the policy digest or the privileged class:\n%s", std)
		}
		ret, _ := os.ReadFile(filepath.Join(res.Dir, "APILogging-RetentionSettings-2026-Q2.md"))
		for _, want := range []string{"Result: INTACT, ROLLBACK NOT CHECKED (no published head)", "Retention setting of the collector: 400d, recorded in the store's signed head",
			"verified with the collector's key", "(400d) agrees with the store", "| 2 | 0 | 3 | 11 | 7 |", `"signature"`} {
			if !strings.Contains(string(ret), want) {
				t.Errorf("retention file lacks %q:\n%s", want, ret)
			}
		}
		alerts, _ := os.ReadFile(filepath.Join(res.Dir, "APIAbuse-AlertToTicketSample-2026-Q2.md"))
		for _, want := range []string{"## Alert A-1 (high, rate_limit_spike)", "ticket: jira SEC-101", "closure note: acme's batch job ran twice",
			"corrective action: job deduplicated", "status: closed", "opened 2026-05-06T09:00:00Z"} {
			if !strings.Contains(string(alerts), want) {
				t.Errorf("alert sample lacks %q:\n%s", want, alerts)
			}
		}
	})

	t.Run("lifecycle and scan", func(t *testing.T) {
		rows := readCSV(t, filepath.Join(res.Dir, "APIAuth-TokenLifecycleLog-2026-Q2.csv"))
		want := [][]string{
			{"2026-05-02T09:00:00Z", "key.create", "acmehris2", "carol", "CHG-11", "new integration", "209", "", "", "none (no approval spent; a ticket is no second person's approval)", "bound to no person"},
			{"2026-05-02T10:00:00Z", "key.rotate", "acmeadm1", "dave", "", "", "210", "", "no ticket", "none (no approval spent; a ticket is no second person's approval)", "bound to no person"},
			{"2026-05-10T12:00:00Z", "key.revoke", "acmehris1", "alice", "SEC-9", "leaked in a ticket", "41", "", "", "", "bound to no person"},
		}
		if len(rows) < 4 || !slices.EqualFunc(rows[1:4], want, slices.Equal) {
			t.Errorf("lifecycle rows = %q, want first %q", rows, want)
		}
		var noExpiry []string
		for _, r := range rows[4:] {
			if r[8] == "no expiry" {
				noExpiry = append(noExpiry, r[2])
			}
		}
		if !slices.Equal(noExpiry, []string{"acmehris1", "acmeadm1", "globexbi1"}) {
			t.Errorf("keys flagged without expiry = %q", noExpiry)
		}
		scan, _ := os.ReadFile(filepath.Join(res.Dir, "APILogging-CredentialScan-2026-Q2.md"))
		if !strings.Contains(string(scan), "Result: FAIL") || !strings.Contains(string(scan), `"r-leak"`) ||
			!strings.Contains(string(scan), "matching a credential pattern: 1.") || strings.Contains(string(scan), leakedSecret) {
			t.Errorf("credential scan does not name the one leaking record, or copies the secret:\n%s", scan)
		}
	})

	t.Run("privileged and checklist", func(t *testing.T) {
		rows := readCSV(t, filepath.Join(res.Dir, "APIPrivileged-PrivilegedAccess-2026-Q2.csv"))
		want := []string{"acme-admin", "it-admin@acme.example", "acme", "admin:settings export:data manage:integrations", "1",
			"2026-05-05T09:00:00Z", "acmeadm1", "PUT /v1/admin/settings", "192.0.2.7", ""}
		if len(rows) != 2 || !slices.Equal(rows[1], want) {
			t.Errorf("privileged access = %q, want one row %q", rows, want)
		}
		list, _ := os.ReadFile(filepath.Join(res.Dir, "APIGovernance-ISO27017Checklist-2026-Q2.md"))
		for _, want := range []string{
			"| Is token creation approved and logged? | No | 1 key creations in period: 0 for clients holding a privileged scope, 0 of them with a second person's approval spent in the same etcd transaction (a ticket is no second person's approval); 1 for other clients, 1 of them with a ticket (the change record that authorised it, to sample in the ticketing system); 1 rotations of keys of clients holding a privileged scope (each a new privileged key), 0 of them with a second person's approval spent in the same etcd transaction; 0 rotations of other clients' keys, 0 of them with a ticket; WITHOUT what they must show: the rotation of \"acmeadm1\" | [APIAuth-TokenLifecycleLog-2026-Q2.csv](APIAuth-TokenLifecycleLog-2026-Q2.csv) |",
			"| Can tokens be rotated and revoked quickly? | No | 1 revocations/suspensions in period, 1 with a denial after them; NOT ACKNOWLEDGED: 1 of 2 (change, live sidecar) pairs, a sidecar that never applied the change |",
			"| Are abuse alerts linked to tickets? | Yes (ROLLBACK NOT CHECKED, no published head: see APILogging-RetentionSettings-2026-Q2.md) | 1 alerts in period, 1 with a ticket |",
			"| Is evidence mapped to controls, owned, reviewed and approved? | No | mapped: yes (manifest); owners: NONE for Abuse, Logging, Privileged Endpoint, Rate Limit (their files are unassigned in the manifest); review sign-offs approved for the period: 1, the whole period reviewed: access |",
		} {
			if !strings.Contains(string(list), want) {
				t.Errorf("checklist lacks %q:\n%s", want, list)
			}
		}
	})

	t.Run("reviews", func(t *testing.T) {
		rows := readCSV(t, filepath.Join(res.Dir, "APIGovernance-ReviewRecords-2026-Q2.csv"))
		want := []string{"2026-05-30T17:00:00Z", "review.sign", "access-2026-Q2", "rita", "approved", "acme-admin keeps its scopes", "AUD-1", "abc123", "3017", ""}
		if len(rows) != 2 || !slices.Equal(rows[1], want) {
			t.Errorf("review records = %q, want one row %q", rows, want)
		}
	})

	t.Run("index", func(t *testing.T) {
		page, err := os.ReadFile(filepath.Join(res.Dir, IndexFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`<svg id="daily"`, `<svg id="tenants"`, `<svg id="timeline"`,
			"<title>2026-05-06 429: 2</title>", "<title>2026-05-03 allowed: 2</title>", "<title>acme requests: 9</title>",
			"<title>2026-05-10T12:00:00Z key.revoke acmehris1 by alice</title>", `<a href="APIAuth-ScopeRoleMatrix-2026-Q2.csv">`} {
			if !strings.Contains(string(page), want) {
				t.Errorf("index.html lacks %q", want)
			}
		}
		if n := strings.Count(string(page), "<circle"); n != 7 {
			t.Errorf("timeline has %d events, want 7", n)
		}
	})

	t.Run("manifest", func(t *testing.T) {
		checkManifest(t, res, key)
	})
}

// checkManifest checks every manifest row's digest against the file, the
// signature, the CSV twin and the zip's contents.
func checkManifest(t *testing.T, res *Result, key ed25519.PrivateKey) {
	t.Helper()
	j, err := os.ReadFile(filepath.Join(res.Dir, ManifestJSON))
	if err != nil {
		t.Fatal(err)
	}
	var rows []ManifestRow
	if err := json.Unmarshal(j, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(res.Files) {
		t.Fatalf("manifest has %d rows, want %d", len(rows), len(res.Files))
	}
	for _, r := range rows {
		b, err := os.ReadFile(filepath.Join(res.Dir, r.File))
		sum := sha256.Sum256(b)
		if err != nil || hex.EncodeToString(sum[:]) != r.SHA256 {
			t.Errorf("%s: digest %s does not match the file (%v)", r.File, r.SHA256, err)
		}
		// Checked against no published head, and a batch of the period
		// names no pod: the manifest says so.
		if r.ControlID == "" || r.Period != "2026-Q2 (ROLLBACK NOT CHECKED, no published head; silence NOT CHECKED for 1 sender(s) naming no pod: see APILogging-RetentionSettings-2026-Q2.md)" || r.ReviewStatus != "Uploaded" {
			t.Errorf("%s: row %+v lacks its control, period or status", r.File, r)
		}
	}
	if rows[0].Owner != "iam-team@example.com" || rows[4].Owner != "unassigned" {
		t.Errorf("owners %q, %q: want the owner map's, and unassigned", rows[0].Owner, rows[4].Owner)
	}
	if err := VerifySignature(res.Dir, key.Public().(ed25519.PublicKey)); err != nil {
		t.Error(err)
	}
	if err := VerifySignature(res.Dir, newKey(t).Public().(ed25519.PublicKey)); err == nil {
		t.Error("the manifest verifies with another key")
	}
	c := readCSV(t, filepath.Join(res.Dir, ManifestCSV))
	if len(c) != len(rows)+1 || c[0][0] != "Evidence Title" || c[1][8] != rows[0].SHA256 {
		t.Errorf("manifest.csv = %q", c)
	}
	zr, err := zip.OpenReader(res.Zip)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, filepath.Base(f.Name))
	}
	for _, r := range rows {
		if !slices.Contains(names, r.File) {
			t.Errorf("zip lacks %s: %q", r.File, names)
		}
	}
	for _, m := range []string{ManifestCSV, ManifestJSON, ManifestSig} {
		if !slices.Contains(names, m) {
			t.Errorf("zip lacks %s", m)
		}
	}
}

// TestPackEmptyPeriod builds packs for a period with no activity, from a
// store with records only outside it and from an empty store: each file
// is written and says there is nothing in the period instead of failing.
func TestPackEmptyPeriod(t *testing.T) {
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePeriod("2026-Q1")
	if err != nil {
		t.Fatal(err)
	}
	withActivity, empty := t.TempDir(), t.TempDir()
	key := newKey(t)
	activity(t, withActivity, key)
	st, err := collector.OpenStore(empty, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"records outside": withActivity, "new store": empty} {
		t.Run(name, func(t *testing.T) {
			res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d"})
			if err != nil {
				t.Fatalf("Pack of an empty period: %v", err)
			}
			if res.Records != 0 || res.Events != 0 || res.Alerts != 0 {
				t.Errorf("activity = %d records, %d events, %d alerts; want none", res.Records, res.Events, res.Alerts)
			}
			if len(res.Files) != len(files)+1 {
				t.Errorf("pack has %d files, want %d", len(res.Files), len(files)+1)
			}
			page, _ := os.ReadFile(filepath.Join(res.Dir, IndexFile))
			if !strings.Contains(string(page), "No activity in this period") {
				t.Errorf("index.html does not say the period had no activity:\n%s", page)
			}
			// Nothing happened, so nothing shows creation approved: not a
			// vacuous Yes (found by an outside review).
			checklist, _ := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
			if want := "| Is token creation approved and logged? | No | 0 key creations in period: 0 for clients holding a privileged scope, 0 of them with a second person's approval spent in the same etcd transaction (a ticket is no second person's approval); 0 for other clients, 0 of them with a ticket (the change record that authorised it, to sample in the ticketing system); 0 rotations of keys of clients holding a privileged scope (each a new privileged key), 0 of them with a second person's approval spent in the same etcd transaction; 0 rotations of other clients' keys, 0 of them with a ticket: none to show |"; !strings.Contains(string(checklist), want) {
				t.Errorf("checklist lacks %q:\n%s", want, checklist)
			}
			alerts, _ := os.ReadFile(filepath.Join(res.Dir, "APIAbuse-AlertToTicketSample-2026-Q1.md"))
			if !strings.Contains(strings.ToLower(string(alerts)), "none in period") {
				t.Errorf("alert sample does not say none in period:\n%s", alerts)
			}
			if err := VerifySignature(res.Dir, key.Public().(ed25519.PublicKey)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestPackRetentionFromStore checks that the retention file states the
// setting the store recorded, whatever the flag says, and that a flag
// that disagrees is reported in the file and as a warning.
func TestPackRetentionFromStore(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Retention: 90 * 24 * time.Hour, Now: sinceQ2})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendBatch(&collector.Batch{ID: "b1", Records: []collector.StoredRecord{{Time: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-05")
	tests := []struct {
		flag, want string
		warnings   int
	}{
		{"", "", 0},
		{"90d", "(90d) agrees with the store", 0},
		{"400d", "MISMATCH: the --retention given to the pack says 400d, the store records 90d", 1},
	}
	for _, tt := range tests {
		res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: tt.flag})
		if err != nil {
			t.Fatal(err)
		}
		ret, _ := os.ReadFile(filepath.Join(res.Dir, "APILogging-RetentionSettings-2026-05.md"))
		if !strings.Contains(string(ret), "Retention setting of the collector: 90d, recorded in the store's signed head") ||
			!strings.Contains(string(ret), tt.want) || len(res.Warnings) != tt.warnings {
			t.Errorf("flag %q: warnings %q, file:\n%s\nwant %q and %d warnings", tt.flag, res.Warnings, ret, tt.want, tt.warnings)
		}
	}
}
