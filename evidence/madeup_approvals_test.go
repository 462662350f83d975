package evidence

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestRealApprovalCountedPastMadeUpIDs: the approval ids past the first
// maxApprovalIDs are counted together, and a sender writes any id. One
// that named that many made-up ids before a real approval's first
// request took the approval's row: its requests were counted with the
// made-up ones, and its row said 0. An approval the trail's events name
// keeps its own counts however many made-up ids came first, whether its
// events were stored before its requests (early) or after them (late: the
// collector's etcd watch behind the sidecars'); only the ids no approval
// event names are counted together, the tally holding at most
// maxApprovalIDs of them.
func TestRealApprovalCountedPastMadeUpIDs(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a store of 100,000 records")
	}
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	at := func(d, h int) time.Time { return time.Date(2026, 5, d, h, 0, 0, 0, time.UTC) }
	ev := func(tm time.Time, action, target, actor, ticket string) collector.Event {
		raw, _ := json.Marshal(map[string]string{"client": "acme-admin", "route": "POST /v1/exports/full", "requester": "alice",
			"approver": "bob", "max_uses": "5", "max_age": "1h0m0s"})
		return collector.Event{Time: tm, Key: "/p/events/" + action + target, Revision: tm.Unix(), Actor: actor,
			Action: action, Target: target, Ticket: ticket, Reason: "quarterly export", Details: raw}
	}
	events := func(evs ...collector.Event) {
		t.Helper()
		if err := st.AppendEvents(evs); err != nil {
			t.Fatal(err)
		}
	}
	batch := 0
	send := func(recs []collector.StoredRecord) {
		t.Helper()
		batch++
		if err := st.AppendBatch(&collector.Batch{ID: fmt.Sprint("b", batch), Sender: "token:sidecar-1", Records: recs}); err != nil {
			t.Fatal(err)
		}
	}
	rec := func(tm time.Time, decision, approval string) collector.StoredRecord {
		status := int64(200)
		if decision == "approval_required" {
			status = 403
		}
		return collector.StoredRecord{Time: tm, Tenant: "acme", Client: "acme-admin", Method: "POST", Route: "/v1/exports/full",
			Path: "/v1/exports/full", Status: status, Decision: decision, RequestID: "r-" + approval, ApprovalID: approval}
	}
	events(ev(at(3, 9), "approval.request", "apr_early", "alice", "CHG-1"), ev(at(3, 10), "approval.grant", "apr_early", "bob", "CHG-1"))
	// The sender fills the bound with made-up ids, one refused request each.
	recs := make([]collector.StoredRecord, 0, 5000)
	for i := range maxApprovalIDs {
		if recs = append(recs, rec(at(4, 9), "approval_required", fmt.Sprint("made-up-", i))); len(recs) == cap(recs) {
			send(recs)
			recs = recs[:0]
		}
	}
	// Then the real approvals' requests, and one more made-up id. The
	// late approval's events are stored after its first requests.
	send([]collector.StoredRecord{
		rec(at(5, 9), "allowed", "apr_early"), rec(at(5, 9), "allowed", "apr_early"), rec(at(5, 9), "approval_required", "apr_early"),
		rec(at(5, 10), "approval_required", "apr_late"), rec(at(5, 10), "approval_required", "apr_late"),
		rec(at(5, 10), "approval_required", "made-up-last"),
	})
	events(ev(at(5, 11), "approval.request", "apr_late", "alice", "CHG-2"), ev(at(5, 12), "approval.grant", "apr_late", "bob", "CHG-2"))
	send([]collector.StoredRecord{rec(at(5, 13), "allowed", "apr_late"), rec(at(5, 13), "approval_required", "made-up-after")})
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	res := packMay(t, data, out, key)
	rows := readCSV(t, filepath.Join(res.Dir, "APIPrivileged-ApprovalSamples-2026-05.csv"))
	got := map[string]string{}
	for _, r := range rows[1:] {
		got[r[0]] = fmt.Sprintf("allowed %s, refused %s, flag %q", r[15], r[16], r[17])
	}
	for id, want := range map[string]string{"apr_early": `allowed 2, refused 1, flag ""`, "apr_late": `allowed 1, refused 2, flag ""`} {
		if got[id] != want {
			t.Errorf("ApprovalSamples row of %s after %d made-up ids: %s, want %s", id, maxApprovalIDs, got[id], want)
		}
	}
	warn := strings.Join(res.Warnings, "\n")
	if !strings.Contains(warn, "0 allowed and 2 refused requests named approval ids past the first") {
		t.Errorf("warnings do not count the 2 requests of made-up ids past the first %d:\n%s", maxApprovalIDs, warn)
	}

	// The bound: the tally holds the made-up ids up to it and the real ones.
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-05")
	b, err := load(&Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b.tally.approvals); n != maxApprovalIDs+2 {
		t.Errorf("the approvals tally holds %d ids, want the %d made up first and the 2 real", n, maxApprovalIDs)
	}
}
