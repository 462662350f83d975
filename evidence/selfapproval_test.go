package evidence

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// The pack flags an approval granted by its requester as approvals grant
// refuses one: the same name but for case, spaces, invisible
// characters or Unicode spelling, the requester running the grant in another's name, or the
// grant written as the request's etcd user. Such a grant reaches the
// trail only by writing etcd without the CLI, which is what the flag is
// there to show; before, it compared the names with strings.EqualFold
// alone, so "alice" granted by " Alice\u200b" passed unflagged.
func TestPackFlagsSelfApprovalAsTheCLIRefusesIt(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	at := func(d, h int) time.Time { return time.Date(2026, 5, d, h, 0, 0, 0, time.UTC) }
	ev := approvalEvent
	op := map[string]string{"etcd_user": "op-alice"}
	evs := []collector.Event{
		ev(at(3, 9), "approval.request", "apr_case", "alice", nil),
		ev(at(3, 10), "approval.grant", "apr_case", "bob", map[string]string{"approver": " Alice\u200b"}),
		ev(at(4, 9), "approval.request", "apr_runner", "alice", nil),
		ev(at(4, 10), "approval.grant", "apr_runner", "ALICE", map[string]string{"approver": "bob"}),
		ev(at(5, 9), "approval.request", "apr_user", "alice", op),
		ev(at(5, 10), "approval.grant", "apr_user", "bob", map[string]string{"approver": "bob", "etcd_user": "op-alice"}),
		ev(at(6, 9), "approval.request", "apr_ok", "alice", op),
		ev(at(6, 10), "approval.grant", "apr_ok", "bob", map[string]string{"approver": "bob", "etcd_user": "op-bob"}),
		// The same name in another Unicode spelling (NFD against NFC, a
		// Cyrillic а): TestGrantByRequesterInAnotherSpelling.
		ev(at(7, 9), "approval.request", "apr_nfd", "jose\u0301", map[string]string{"requester": "jose\u0301"}),
		ev(at(7, 10), "approval.grant", "apr_nfd", "carol", map[string]string{"approver": "jos\u00e9"}),
		ev(at(8, 9), "approval.request", "apr_cyrillic", "alice", nil),
		ev(at(8, 10), "approval.grant", "apr_cyrillic", "\u0430lice", map[string]string{"approver": "bob"}),
		// One side written as an identity naming no person (the shared
		// operators' certificate): TestSharedEtcdUserIsNoSecondPerson.
		ev(at(9, 9), "approval.request", "apr_shared", "alice", map[string]string{"etcd_user": "portcullis-operator"}),
		ev(at(9, 10), "approval.grant", "apr_shared", "bob", map[string]string{"approver": "bob", "etcd_user": "op-alice"}),
		// Granted with a second certificate of the requester's
		// (person+device): TestEtcdUsersOfOnePersonAreNoSecondPerson.
		ev(at(10, 9), "approval.request", "apr_device", "alice", op),
		ev(at(10, 10), "approval.grant", "apr_device", "bob", map[string]string{"approver": "bob", "etcd_user": "op-alice+laptop"}),
	}
	if err := st.AppendEvents(evs); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	res := packMay(t, data, out, key)
	rows := readCSV(t, filepath.Join(res.Dir, "APIPrivileged-ApprovalSamples-2026-05.csv"))
	flags := map[string]string{}
	for _, r := range rows[1:] {
		flags[r[0]] = r[slices.Index(rows[0], "flag")]
	}
	for id, want := range map[string]bool{"apr_case": true, "apr_runner": true, "apr_user": true, "apr_ok": false, "apr_nfd": true, "apr_cyrillic": true, "apr_device": true} {
		if got := strings.Contains(flags[id], "approved by its requester"); got != want {
			t.Errorf("%s flagged %q; want self-approval flagged: %t", id, flags[id], want)
		}
	}
	if !strings.Contains(flags["apr_shared"], "shared etcd identity") {
		t.Errorf("apr_shared, requested with the shared operators' certificate, flagged %q; want no second person shown", flags["apr_shared"])
	}
}

// approvalEvent is a lifecycle event of acme-admin's approval target for
// POST /v1/exports/full requested by alice (max 1 use, 1h), with details
// added to or replacing those.
func approvalEvent(tm time.Time, action, target, actor string, details map[string]string) collector.Event {
	d := map[string]string{"client": "acme-admin", "route": "POST /v1/exports/full", "requester": "alice", "max_uses": "1", "max_age": "1h0m0s"}
	maps.Copy(d, details)
	raw, _ := json.Marshal(d)
	return collector.Event{Time: tm, Key: "/p/events/" + action + target, Revision: tm.Unix(), Actor: actor,
		Action: action, Target: target, Ticket: "CHG-1", Reason: "export", Details: raw}
}
