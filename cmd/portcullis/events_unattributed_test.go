package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// The alert on flagged lifecycle events sends the operator to events
// list, which read from the trail named the action and the key of a
// revocation deleted by hand, but neither the etcd revision nor why the
// collector flagged it: both are in the trail, and the JSON rows carry
// them now, as they carry the revision of an event read from etcd.
func TestEventsListShowsWhyAnEventIsUnverified(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := auditStore(t, dir)
	const why = `revocation of "acmehris7" deleted at etcd revision 5 with no token.revocation_expired event in its transaction (deleted by hand): the key or token is no longer revoked`
	if err := st.AppendEvents([]collector.Event{{Time: time.Now().UTC(), Key: "/p/revocations/acmehris7", Revision: 5,
		Action: "revocation.deleted_unattributed", Target: "acmehris7", Unverified: why}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	r := portcullis(t, "", nil, "events", "list", "--data", dir, "--action", "revocation.deleted_unattributed", "--format", "json")
	var rows []struct {
		Target     string `json:"target"`
		Revision   int64  `json:"revision"`
		Unverified string `json:"unverified"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("events list: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
	}
	if len(rows) != 1 || rows[0].Target != "acmehris7" || rows[0].Revision != 5 || rows[0].Unverified != why {
		t.Errorf("rows %+v, want the delete of acmehris7 at revision 5 with why it is unverified\n%s", rows, r.stdout)
	}
	r = portcullis(t, "", nil, "events", "list", "--data", dir)
	if !strings.Contains(r.stdout, "unattributed") {
		t.Errorf("table names no unattributed change:\n%s", r.stdout)
	}
}
