package evidence

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// The pack's APIPrivileged-ApprovalSamples file puts each approval of the
// period together from its lifecycle events and the audit records naming
// it, and flags what an auditor must look at (issue 20).
func TestPackApprovalSamples(t *testing.T) { packApprovalSamples(t) }

// approvalAt is hour h of day d of May 2026, the period the approval
// samples tests pack.
func approvalAt(d, h int) time.Time { return time.Date(2026, 5, d, h, 0, 0, 0, time.UTC) }

// approvalRecord is a record of acme-admin's full export naming approval.
func approvalRecord(tm time.Time, decision, approval string, status int64) collector.StoredRecord {
	return collector.StoredRecord{Time: tm, Tenant: "acme", Client: "acme-admin", Method: "POST", Route: "/v1/exports/full",
		Path: "/v1/exports/full", Status: status, Decision: decision, RequestID: "r", ApprovalID: approval}
}

// packApprovalSamples stores the lifecycle events of three approvals
// (apr_1 granted and used, apr_2 denied, apr_3 used without a request or
// grant in the period) and four records naming apr_1 and apr_2, then
// extra, packs May 2026 and checks the approval samples file row by row:
// extra must name no approval of the events. It returns the pack.
func packApprovalSamples(t *testing.T, extra ...collector.StoredRecord) *Result {
	t.Helper()
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	at := approvalAt
	ev := func(tm time.Time, action, target, actor, ticket, reason string, details map[string]string) collector.Event {
		raw, _ := json.Marshal(details)
		return collector.Event{Time: tm, Key: "/p/events/" + action + target, Revision: tm.Unix(), Actor: actor,
			Action: action, Target: target, Ticket: ticket, Reason: reason, Details: raw}
	}
	route := "POST /v1/exports/full"
	base := map[string]string{"client": "acme-admin", "route": route, "requester": "alice", "max_uses": "1", "max_age": "1h0m0s"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range base {
			m[a] = b
		}
		return m
	}
	evs := []collector.Event{
		ev(at(3, 9), "approval.request", "apr_1", "alice", "CHG-20", "quarterly export", base),
		ev(at(3, 10), "approval.grant", "apr_1", "bob", "CHG-20", "", with("approver", "bob")),
		ev(at(3, 11), "approval.use", "apr_1", "acme-admin", "CHG-20", "", with("request_id", "req-42")),
		ev(at(4, 9), "approval.request", "apr_2", "alice", "", "again", base),
		ev(at(4, 10), "approval.deny", "apr_2", "carol", "", "not this quarter", base),
		ev(at(5, 9), "approval.use", "apr_3", "acme-admin", "", "", with("request_id", "req-7")),
	}
	if err := st.AppendEvents(evs); err != nil {
		t.Fatal(err)
	}
	batch := &collector.Batch{ID: "b1", Sender: "token:sidecar-1", Records: append([]collector.StoredRecord{
		approvalRecord(at(3, 11), "allowed", "apr_1", 200),
		approvalRecord(at(3, 11), "approval_required", "apr_1", 403),
		approvalRecord(at(3, 12), "approval_required", "apr_1", 403),
		approvalRecord(at(4, 11), "approval_required", "apr_2", 403),
	}, extra...)}
	if err := st.AppendBatch(batch); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	res := packMay(t, data, out, key)
	name := "APIPrivileged-ApprovalSamples-2026-05.csv"
	if !slices.ContainsFunc(res.Files, func(f ManifestRow) bool { return f.File == name }) {
		t.Fatalf("pack files %v lack %s", res.Files, name)
	}
	rows := readCSV(t, filepath.Join(res.Dir, name))
	want := [][]string{
		{"approval_id", "client", "route", "requested", "requester", "reason", "ticket", "decision", "decided", "approver", "note", "max_uses", "expires", "uses", "use_request_ids", "allowed_requests", "refused_requests", "flag", "request_etcd_user", "grant_etcd_user"},
		{"apr_1", "acme-admin", route, "2026-05-03T09:00:00Z", "alice", "quarterly export", "CHG-20", "granted", "2026-05-03T10:00:00Z", "bob", "", "1", "", "1", "req-42", "1", "2", "", "bound to no person", "bound to no person"},
		{"apr_2", "acme-admin", route, "2026-05-04T09:00:00Z", "alice", "again", "", "denied", "2026-05-04T10:00:00Z", "carol", "not this quarter", "1", "", "0", "", "0", "1", "no ticket", "bound to no person", ""},
		{"apr_3", "acme-admin", route, "", "alice", "", "", "none in period", "", "", "", "1", "", "1", "req-7", "0", "0", "requested before the period; used without a grant in the period; no ticket", "", ""},
	}
	if len(rows) != len(want) {
		t.Fatalf("%s has %d rows, want %d:\n%q", name, len(rows), len(want), rows)
	}
	for i := range want {
		if !slices.Equal(rows[i], want[i]) {
			t.Errorf("row %d = %q\n want %q", i, rows[i], want[i])
		}
	}
	return res
}
