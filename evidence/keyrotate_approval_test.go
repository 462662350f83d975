package evidence

import (
	"encoding/json"
	"path/filepath"
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
	data, key := t.TempDir(), newKey(t)
	at := func(d, h int) time.Time { return time.Date(2026, 5, d, h, 0, 0, 0, time.UTC) }
	ev := func(rev int64, tm time.Time, action, target, actor string, details map[string]string) collector.Event {
		raw, _ := json.Marshal(details)
		return collector.Event{Time: tm, Key: "/p/events/" + action + target, Revision: rev, Actor: actor, Action: action, Target: target, Ticket: "CHG-1", Details: raw}
	}
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: sinceQ2})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents([]collector.Event{
		ev(10, at(2, 9), "approval.request", "apr_dave", "carol", map[string]string{"client": "acme-admin", "route": "keys create", "requester": "carol", "max_uses": "1"}),
		ev(11, at(2, 10), "approval.grant", "apr_dave", "dave", map[string]string{"client": "acme-admin", "route": "keys create", "requester": "carol", "approver": "dave"}),
		ev(12, at(2, 11), "approval.use", "apr_dave", "carol", map[string]string{"client": "acme-admin", "route": "keys create"}),
		ev(12, at(2, 11), "key.rotate", "acmeadm1", "carol", map[string]string{"client": "acme-admin", "new_key": "acmeadm7", "approval": "apr_dave"}),
		ev(20, at(3, 11), "key.rotate", "acmehris1", "carol", map[string]string{"client": "acme-hris", "new_key": "acmehris7"}),
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
