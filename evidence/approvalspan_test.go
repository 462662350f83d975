package evidence

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// An approval granted at the end of May and used in June is a grant like
// any other in June's pack: its sample names the requester, the approver
// and the grant from the trail, says it was requested before the period,
// and does not call the use one "without a grant". Before, the row had
// no requester, approver or decision and the same flag as a use of a
// grant that never existed, so the flag said nothing.
func TestApprovalGrantedBeforeThePeriodKeepsItsGrant(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ev := approvalEvent
	may31 := time.Date(2026, 5, 31, 23, 30, 0, 0, time.UTC)
	evs := []collector.Event{
		ev(may31, "approval.request", "apr_span", "alice", nil),
		ev(may31.Add(10*time.Minute), "approval.grant", "apr_span", "bob", map[string]string{"approver": "bob"}),
		ev(may31.Add(40*time.Minute), "approval.use", "apr_span", "", map[string]string{"request_id": "req-1"}),
		ev(may31.Add(45*time.Minute), "approval.use", "apr_none", "", map[string]string{"request_id": "req-2"}),
	}
	if err := st.AppendEvents(evs); err != nil {
		t.Fatal(err)
	}
	st.Close()
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-06")
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(res.Dir, "APIPrivileged-ApprovalSamples-2026-06.csv"))
	want := [][]string{
		{"apr_span", "acme-admin", "POST /v1/exports/full", "2026-05-31T23:30:00Z", "alice", "export", "CHG-1", "granted", "2026-05-31T23:40:00Z", "bob", "", "1", "", "1", "req-1", "0", "0", "requested before the period", "bound to no person", "bound to no person"},
		{"apr_none", "acme-admin", "POST /v1/exports/full", "", "alice", "", "CHG-1", "none in period", "", "", "", "1", "", "1", "req-2", "0", "0", "requested before the period; used without a grant in the period", "", ""},
	}
	if len(rows) != 3 {
		t.Fatalf("rows %q, want the two approvals used in June", rows)
	}
	for i, w := range want {
		if !slices.Equal(rows[i+1], w) {
			t.Errorf("row %d = %q\n want %q", i+1, rows[i+1], w)
		}
	}
}
