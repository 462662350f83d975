package evidence

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// keys rotate of a privileged client's key spends a "keys create"
// approval in the rotation's transaction and names it in the key.rotate
// event (etcdadmin.RotateKey), as keys create does in key.create. The
// lifecycle log showed the approval of key.create events only: a
// rotation's second person was in the trail and named nowhere in the
// pack (review193). Its approval column now reads as a creation's.
func TestLifecycleLogShowsARotationsApproval(t *testing.T) {
	t.Parallel()
	ev := mayEvent
	res, p := packMayEvents(t,
		ev(10, 2, 9, "approval.request", "apr_dave", "carol", map[string]string{"client": "acme-admin", "route": "keys create", "requester": "carol", "max_uses": "1"}),
		ev(11, 2, 10, "approval.grant", "apr_dave", "dave", map[string]string{"client": "acme-admin", "route": "keys create", "requester": "carol", "approver": "dave"}),
		ev(12, 2, 11, "approval.use", "apr_dave", "carol", map[string]string{"client": "acme-admin", "route": "keys create"}),
		ev(12, 2, 11, "key.rotate", "acmeadm1", "carol", map[string]string{"client": "acme-admin", "new_key": "acmeadm7", "approval": "apr_dave"}),
		ev(20, 3, 11, "key.rotate", "acmehris1", "carol", map[string]string{"client": "acme-hris", "new_key": "acmehris7"}),
	)
	got := map[string]string{}
	for _, r := range readCSV(t, filepath.Join(res.Dir, FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv"))) {
		if r[1] == "key.rotate" {
			got[r[2]] = r[9]
		}
	}
	for target, want := range map[string]string{
		"acmeadm1":  "approval apr_dave spent, granted by dave",
		"acmehris1": "none (no approval spent; a ticket is no second person's approval)",
	} {
		if got[target] != want {
			t.Errorf("lifecycle log: key.rotate of %s: approval = %q, want %q", target, got[target], want)
		}
	}
}

// mayEvent is a lifecycle event of May 2026, day d at hour h, ticket CHG-1.
func mayEvent(rev int64, d, h int, action, target, actor string, details map[string]string) collector.Event {
	raw, _ := json.Marshal(details)
	return collector.Event{Time: time.Date(2026, 5, d, h, 0, 0, 0, time.UTC), Key: "/p/events/" + action + target, Revision: rev,
		Actor: actor, Action: action, Target: target, Ticket: "CHG-1", Details: raw}
}

// packMayEvents writes evs into a collector store, signs its head and packs May
// 2026 from it under the example policy.
func packMayEvents(t *testing.T, evs ...collector.Event) (*Result, Period) {
	t.Helper()
	return packMayRecords(t, nil, evs...)
}

// packMayRecords is packMayEvents with the records recs, in one batch of one
// sidecar, stored before the events.
func packMayRecords(t *testing.T, recs []collector.StoredRecord, evs ...collector.Event) (*Result, Period) {
	t.Helper()
	return packMayUnder(t, "", recs, evs...)
}

// packMayUnder is packMayRecords with the deployment's etcd prefix set to
// prefix (Config.Prefix).
func packMayUnder(t *testing.T, prefix string, recs []collector.StoredRecord, evs ...collector.Event) (*Result, Period) {
	t.Helper()
	data, key := t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: sinceQ2})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) > 0 {
		if err := st.AppendBatch(&collector.Batch{ID: "b1", Sender: "token:sidecar-1", Records: recs}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.AppendEvents(evs); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-05")
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d", Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return res, p
}

// A rotation of a privileged client's key makes a new privileged key, and
// keys rotate spends a keys create approval for it; one with none (an
// older CLI's, or written into etcd by hand) showed "none" in the
// lifecycle log while the token creation question, counting key.create
// events only, answered Yes. acmeadm2's rotation to acmeadm9 spends no
// approval: the answer is No, naming it; acme-hris holds no privileged
// scope, so its rotation is not counted.
func TestUnapprovedPrivilegedRotationAnswersNo(t *testing.T) {
	t.Parallel()
	ev := mayEvent
	res, p := packMayEvents(t,
		ev(10, 2, 9, "approval.request", "apr_dave", "carol", map[string]string{"client": "acme-admin", "route": "keys create", "requester": "carol", "max_uses": "1"}),
		ev(11, 2, 10, "approval.grant", "apr_dave", "dave", map[string]string{"client": "acme-admin", "route": "keys create", "requester": "carol", "approver": "dave"}),
		ev(12, 2, 11, "approval.use", "apr_dave", "carol", map[string]string{"client": "acme-admin", "route": "keys create"}),
		ev(12, 2, 11, "key.create", "acmeadm7", "carol", map[string]string{"client": "acme-admin", "approval": "apr_dave"}),
		ev(20, 3, 11, "key.rotate", "acmeadm2", "carol", map[string]string{"client": "acme-admin", "new_key": "acmeadm9"}),
		ev(21, 3, 12, "key.rotate", "acmehris1", "carol", map[string]string{"client": "acme-hris", "new_key": "acmehris7"}),
	)
	const q = "Is token creation approved and logged?"
	if a := checklistAnswers(t, res, p)[q]; a != "No" {
		t.Errorf("%q answered %q; want No: acmeadm2's rotation to acmeadm9, of a privileged client, spent no approval", q, a)
	}
	md, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"1 rotations of keys of clients holding a privileged scope (each a new privileged key), 0 of them with a second person's approval spent",
		`WITHOUT what they must show: the rotation of "acmeadm2" to "acmeadm9" |`,
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("checklist lacks %q:\n%s", want, md)
		}
	}
}

// A key event the follower stored unverified (the change it describes is
// not in its etcd transaction: a key.create written by hand beside a key
// that is not there, or the other way about) vouches for nothing. One for
// a privileged client was named among the keys WITHOUT what they must
// show, as if the key were known to lack an approval, and one for an
// ordinary client counted its ticket toward a Yes. Both are named apart,
// as flagged, not verified, and the answer is No.
func TestUnverifiedKeyEventIsNamedAsNotVerified(t *testing.T) {
	t.Parallel()
	ev := mayEvent
	unverified := func(e collector.Event) collector.Event {
		e.Unverified = "no key record written in the event's transaction"
		return e
	}
	res, p := packMayEvents(t,
		ev(10, 2, 9, "approval.request", "apr_dave", "carol", map[string]string{"client": "acme-admin", "route": "keys create", "requester": "carol", "max_uses": "1"}),
		ev(11, 2, 10, "approval.grant", "apr_dave", "dave", map[string]string{"client": "acme-admin", "route": "keys create", "requester": "carol", "approver": "dave"}),
		ev(12, 2, 11, "approval.use", "apr_dave", "carol", map[string]string{"client": "acme-admin", "route": "keys create"}),
		ev(12, 2, 11, "key.create", "acmeadm7", "carol", map[string]string{"client": "acme-admin", "approval": "apr_dave"}),
		unverified(ev(20, 3, 11, "key.create", "acmeadm8", "carol", map[string]string{"client": "acme-admin"})),
		unverified(ev(21, 3, 12, "key.create", "acmehris8", "carol", map[string]string{"client": "acme-hris"})),
	)
	const q = "Is token creation approved and logged?"
	if a := checklistAnswers(t, res, p)[q]; a != "No" {
		t.Errorf("%q answered %q; want No: two key events are not verified", q, a)
	}
	md, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(md), "WITHOUT what they must show") {
		t.Errorf("checklist names an unverified key event as a key WITHOUT what it must show:\n%s", md)
	}
	want := `; 2 key events flagged, not verified (the change each describes is not in its etcd transaction: see the lifecycle log's unverified column), showing nothing, counted above in neither kind: "acmeadm8", "acmehris8" |`
	if !strings.Contains(string(md), want) {
		t.Errorf("checklist lacks %q:\n%s", want, md)
	}
}

// keys rotate spends an approval asked for "keys rotate", a kind apart
// from "keys create" (etcdadmin.KeysRotateRoute), so the approver knows
// a successor from a new key. The pack read only "keys create" uses as a
// key event's approval: every rotation made since showed none, and the
// token creation question answered No. A rotation spending either kind
// (keys create: an older CLI's rotation) shows it; a creation spending a
// keys rotate approval shows none, as the CLI refuses it.
func TestRotationSpendingARotateApprovalShowsIt(t *testing.T) {
	t.Parallel()
	ev := mayEvent
	approval := func(rev int64, id, route string) []collector.Event {
		d := map[string]string{"client": "acme-admin", "route": route, "requester": "carol", "max_uses": "1"}
		g := map[string]string{"client": "acme-admin", "route": route, "requester": "carol", "approver": "dave"}
		return []collector.Event{ev(rev, 2, 9, "approval.request", id, "carol", d), ev(rev+1, 2, 10, "approval.grant", id, "dave", g)}
	}
	var evs []collector.Event
	evs = append(evs, approval(10, "apr_rot", "keys rotate")...)
	evs = append(evs, approval(12, "apr_old", "keys create")...)
	evs = append(evs, approval(14, "apr_wrong", "keys rotate")...)
	evs = append(evs,
		ev(20, 3, 11, "approval.use", "apr_rot", "carol", map[string]string{"client": "acme-admin", "route": "keys rotate"}),
		ev(20, 3, 11, "key.rotate", "acmeadm1", "carol", map[string]string{"client": "acme-admin", "new_key": "acmeadm7", "approval": "apr_rot"}),
		ev(21, 3, 12, "approval.use", "apr_old", "carol", map[string]string{"client": "acme-admin", "route": "keys create"}),
		ev(21, 3, 12, "key.rotate", "acmeadm2", "carol", map[string]string{"client": "acme-admin", "new_key": "acmeadm8", "approval": "apr_old"}),
		ev(22, 3, 13, "approval.use", "apr_wrong", "carol", map[string]string{"client": "acme-admin", "route": "keys rotate"}),
		ev(22, 3, 13, "key.create", "acmeadm9", "carol", map[string]string{"client": "acme-admin", "approval": "apr_wrong"}),
	)
	res, p := packMayEvents(t, evs...)
	got := map[string]string{}
	for _, r := range readCSV(t, filepath.Join(res.Dir, FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv"))) {
		if r[1] == "key.rotate" || r[1] == "key.create" {
			got[r[2]] = r[9]
		}
	}
	for target, want := range map[string]string{
		"acmeadm1": "approval apr_rot spent, granted by dave",
		"acmeadm2": "approval apr_old spent, granted by dave",
		"acmeadm9": "approval apr_wrong named, but no approval.use of it for keys create of this client in the same etcd transaction",
	} {
		if got[target] != want {
			t.Errorf("lifecycle log: %s: approval = %q, want %q", target, got[target], want)
		}
	}
	md, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	if want := "2 rotations of keys of clients holding a privileged scope (each a new privileged key), 2 of them with a second person's approval spent"; !strings.Contains(string(md), want) {
		t.Errorf("checklist lacks %q:\n%s", want, md)
	}
}
