package evidence

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestTicketIsNoKeyCreationApproval: the checklist answered "Is token
// creation approved and logged?" Yes when every key creation of the
// period had a ticket, and a ticket is what the key's maker typed: no
// second person approved anything. Three keys, each with a ticket, are
// made here: one with an approval dave granted, spent in the key's own
// etcd transaction; one with none; one with an approval its requester
// granted herself. The lifecycle log shows the ticket and the approval
// apart, and the answer is No, naming acmeadm8: a key of a client holding
// a privileged scope must show a second person's approval, and acmehris7,
// of a client without one, shows its ticket (keys create refuses
// --approval there: TestOrdinaryKeyShowsItsTicket).
func TestTicketIsNoKeyCreationApproval(t *testing.T) {
	t.Parallel()
	data, key := t.TempDir(), newKey(t)
	at := func(d, h int) time.Time { return time.Date(2026, 5, d, h, 0, 0, 0, time.UTC) }
	ev := func(rev int64, tm time.Time, action, target, actor, ticket string, details map[string]string) collector.Event {
		raw, _ := json.Marshal(details)
		return collector.Event{Time: tm, Key: "/p/events/" + action + target, Revision: rev, Actor: actor, Action: action, Target: target, Ticket: ticket, Details: raw}
	}
	request := func(rev int64, d int, id, requester string) collector.Event {
		return ev(rev, at(d, 9), "approval.request", id, requester, "CHG-1",
			map[string]string{"client": "acme-admin", "route": "keys create", "requester": requester, "max_uses": "1"})
	}
	grant := func(rev int64, d int, id, approver string) collector.Event {
		return ev(rev, at(d, 10), "approval.grant", id, approver, "CHG-1",
			map[string]string{"client": "acme-admin", "route": "keys create", "requester": "carol", "approver": approver})
	}
	use := func(rev int64, d int, id string) collector.Event {
		return ev(rev, at(d, 11), "approval.use", id, "carol", "CHG-1", map[string]string{"client": "acme-admin", "route": "keys create"})
	}
	create := func(rev int64, d int, target, client, approval string) collector.Event {
		details := map[string]string{"client": client}
		if approval != "" {
			details["approval"] = approval
		}
		return ev(rev, at(d, 11), "key.create", target, "carol", "CHG-1", details)
	}
	// The follower flags the use of a self-granted approval unverified
	// (etcdadmin.selfGrantProblem), as it stores it: the pack must still
	// say why, not that no use of it was found.
	selfUse := use(32, 4, "apr_self")
	selfUse.Unverified = `approval "apr_self" granted by its requester: approver "carol", requester "carol" (no second person; approvals grant refuses it)`
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: sinceQ2})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents([]collector.Event{
		request(10, 2, "apr_dave", "carol"), grant(11, 2, "apr_dave", "dave"), use(12, 2, "apr_dave"), create(12, 2, "acmeadm7", "acme-admin", "apr_dave"),
		create(20, 3, "acmehris7", "acme-hris", ""),
		request(30, 4, "apr_self", "carol"), grant(31, 4, "apr_self", "carol"), selfUse, create(32, 4, "acmeadm8", "acme-admin", "apr_self"),
	}); err != nil {
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
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d"})
	if err != nil {
		t.Fatal(err)
	}
	const q = "Is token creation approved and logged?"
	if a := checklistAnswers(t, res, p)[q]; a != "No" {
		t.Errorf("%q answered %q; want No: acmeadm8, of a privileged client, had an approval its requester granted", q, a)
	}
	md, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 key creations in period: 2 for clients holding a privileged scope, 1 of them with a second person's approval spent in the same etcd transaction (a ticket is no second person's approval); 1 for other clients, 1 of them with a ticket",
		`WITHOUT what they must show: "acmeadm8" |`} {
		if !strings.Contains(string(md), want) {
			t.Errorf("checklist lacks %q:\n%s", want, md)
		}
	}
	got := map[string]string{}
	for _, r := range readCSV(t, filepath.Join(res.Dir, FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv"))) {
		if r[1] == "key.create" {
			got[r[2]] = r[4] + " | " + r[9]
		}
	}
	for target, want := range map[string]string{
		"acmeadm7":  "CHG-1 | approval apr_dave spent, granted by dave",
		"acmehris7": "CHG-1 | none (no approval spent; a ticket is no second person's approval)",
		"acmeadm8":  "CHG-1 | approval apr_self named, but granted by its requester (no second person; see the approval samples)",
	} {
		if got[target] != want {
			t.Errorf("lifecycle log: key.create of %s: ticket | approval = %q, want %q", target, got[target], want)
		}
	}
}

// TestOrdinaryKeyShowsItsTicket: keys create refuses --approval for a
// client without a privileged scope, so a period in which one such key
// was made answered "Is token creation approved and logged?" No, however
// every key was authorised (found by the final read, read78). A key of
// acme-admin (privileged) made on dave's approval and one of acme-hris
// with its ticket now answer Yes; the same acme-hris key without a ticket
// answers No and is named.
func TestOrdinaryKeyShowsItsTicket(t *testing.T) {
	t.Parallel()
	at := func(d, h int) time.Time { return time.Date(2026, 5, d, h, 0, 0, 0, time.UTC) }
	ev := func(rev int64, tm time.Time, action, target, actor, ticket string, details map[string]string) collector.Event {
		raw, _ := json.Marshal(details)
		return collector.Event{Time: tm, Key: "/p/events/" + action + target, Revision: rev, Actor: actor, Action: action, Target: target, Ticket: ticket, Details: raw}
	}
	approved := []collector.Event{
		ev(10, at(2, 9), "approval.request", "apr_dave", "carol", "CHG-1", map[string]string{"client": "acme-admin", "route": "keys create", "requester": "carol", "max_uses": "1"}),
		ev(11, at(2, 10), "approval.grant", "apr_dave", "dave", "CHG-1", map[string]string{"client": "acme-admin", "route": "keys create", "requester": "carol", "approver": "dave"}),
		ev(12, at(2, 11), "approval.use", "apr_dave", "carol", "CHG-1", map[string]string{"client": "acme-admin", "route": "keys create"}),
		ev(12, at(2, 11), "key.create", "acmeadm7", "carol", "CHG-1", map[string]string{"client": "acme-admin", "approval": "apr_dave"}),
	}
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePeriod("2026-05")
	const q = "Is token creation approved and logged?"
	for _, c := range []struct {
		ticket, want string
	}{{"CHG-2", "Yes"}, {"", "No"}} {
		data, key := t.TempDir(), newKey(t)
		st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: sinceQ2})
		if err != nil {
			t.Fatal(err)
		}
		events := append(slices.Clone(approved), ev(20, at(3, 11), "key.create", "acmehris7", "carol", c.ticket, map[string]string{"client": "acme-hris"}))
		if err := st.AppendEvents(events); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SignHead(time.Now()); err != nil {
			t.Fatal(err)
		}
		st.Close()
		res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d"})
		if err != nil {
			t.Fatal(err)
		}
		if a := checklistAnswers(t, res, p)[q]; !strings.HasPrefix(a, c.want) {
			t.Errorf("acme-hris key with ticket %q: %q answered %q; want %s", c.ticket, q, a, c.want)
		}
		md, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
		if err != nil {
			t.Fatal(err)
		}
		named := strings.Contains(string(md), `WITHOUT what they must show: "acmehris7"`)
		if named != (c.ticket == "") {
			t.Errorf("acme-hris key with ticket %q: acmehris7 named without what it must show: %v\n%s", c.ticket, named, md)
		}
	}
}
