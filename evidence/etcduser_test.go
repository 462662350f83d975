package evidence

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// The pack names the etcd user an event's key binds apart from one it
// only claims: a request and a grant under events-by/<user>/ show the
// users of their directories; a grant under events/, which any writer of
// events/ may fill, shows "bound to no person" with its claim, never the
// user it claims; the lifecycle log says the same of a key.create.
// Before, the approval samples named no etcd user, and a claim under
// events/ read as the user's own. The two-person flag still compares the
// claim: a grant claiming the request's user is flagged either way.
func TestPackNamesBoundAndClaimedEtcdUsersApart(t *testing.T) {
	t.Parallel()
	at := func(d, h int) time.Time { return time.Date(2026, 5, d, h, 0, 0, 0, time.UTC) }
	under := func(e collector.Event, dir string) collector.Event {
		e.Key = "/p/" + dir + e.Action + e.Target
		return e
	}
	evs := []collector.Event{
		under(approvalEvent(at(3, 9), "approval.request", "apr_bound", "alice", map[string]string{"etcd_user": "ops-alice"}), "events-by/ops-alice/"),
		under(approvalEvent(at(3, 10), "approval.grant", "apr_bound", "bob", map[string]string{"approver": "bob", "etcd_user": "ops-bob"}), "events-by/ops-bob/"),
		under(approvalEvent(at(4, 9), "approval.request", "apr_claim", "alice", map[string]string{"etcd_user": "ops-alice"}), "events-by/ops-alice/"),
		under(approvalEvent(at(4, 10), "approval.grant", "apr_claim", "bob", map[string]string{"approver": "bob", "claimed_etcd_user": "ops-alice"}), "events/"),
		under(mayEvent(30, 5, 10, "key.create", "acmekey1", "alice", map[string]string{"client": "acme-hris", "claimed_etcd_user": "ops-bob"}), "events/"),
		under(mayEvent(31, 5, 11, "key.create", "acmekey2", "alice", map[string]string{"client": "acme-hris", "etcd_user": "ops-alice"}), "events-by/ops-alice/"),
	}
	res, p := packMayEvents(t, evs...)
	cells := map[string][3]string{}
	for _, r := range readCSV(t, filepath.Join(res.Dir, FileName("APIPrivileged", "ApprovalSamples", p.Name, "csv")))[1:] {
		cells[r[0]] = [3]string{r[18], r[19], r[17]}
	}
	if got, want := cells["apr_bound"], [3]string{"ops-alice", "ops-bob", ""}; got[0] != want[0] || got[1] != want[1] {
		t.Errorf("apr_bound etcd users %q, want %q", got, want)
	}
	if got := cells["apr_claim"]; got[0] != "ops-alice" || got[1] != "bound to no person (claims ops-alice)" || !strings.Contains(got[2], "approved by its requester") {
		t.Errorf("apr_claim etcd users and flag %q; want ops-alice, the grant bound to no person with its claim, flagged approved by its requester", got)
	}
	users := map[string]string{}
	for _, r := range readCSV(t, filepath.Join(res.Dir, FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv")))[1:] {
		if r[1] == "key.create" {
			users[r[2]] = r[len(r)-1]
		}
	}
	if users["acmekey1"] != "bound to no person (claims ops-bob)" || users["acmekey2"] != "ops-alice" {
		t.Errorf("lifecycle log etcd users %q; want acmekey1 bound to no person (claims ops-bob), acmekey2 ops-alice", users)
	}
}

// An event under events/ binds no one, whatever its key goes on to say:
// one stored before the follower told bound and claimed users apart keeps
// its claim as etcd_user, and a key under events/ naming "/events-by/"
// further on (any writer of events/ picks its key) was read as under an
// etcd user's directory, the claim shown as the user the key bound.
func TestPackTakesTheDirectoryAnEventKeyStartsIn(t *testing.T) {
	t.Parallel()
	ev := mayEvent(30, 5, 10, "key.create", "acmekey3", "mallory", map[string]string{"client": "acme-hris", "etcd_user": "ops-bob"})
	ev.Key = "/p/events/00000000000000000001-x/events-by/ops-bob/1"
	res, p := packMayEvents(t, ev)
	rows := 0
	for _, r := range readCSV(t, filepath.Join(res.Dir, FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv")))[1:] {
		if r[1] != "key.create" {
			continue
		}
		rows++
		if r[len(r)-1] != "bound to no person (claims ops-bob)" {
			t.Errorf("lifecycle log etcd user of an event under events/ %q; want bound to no person (claims ops-bob)", r[len(r)-1])
		}
	}
	if rows != 1 {
		t.Errorf("%d key.create rows in the lifecycle log, want 1", rows)
	}
}

// An event the follower read under events-by/ while etcd's
// authentication was off (flagged event.etcd_auth_off, its directory's
// user kept as a claim) shows its etcd user as unproven, and the pack
// warns how many such events the period holds. Before, the cell said
// "bound to no person (claims ops-alice)" at best, and nothing said that
// the period's events-by/ attributions were unproven.
func TestPackSaysEtcdUsersAreUnprovenWithoutEtcdAuth(t *testing.T) {
	t.Parallel()
	ev := mayEvent(31, 5, 11, "key.create", "acmekey2", "alice", map[string]string{"client": "acme-hris", "claimed_etcd_user": "ops-alice"})
	ev.Key = "/p/events-by/ops-alice/key.createacmekey2"
	ev.Unverified = "event.etcd_auth_off: read while etcd authentication is off"
	res, p := packMayEvents(t, ev)
	var cell string
	for _, r := range readCSV(t, filepath.Join(res.Dir, FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv")))[1:] {
		if r[1] == "key.create" {
			cell = r[len(r)-1]
		}
	}
	if cell != "unproven, etcd authentication off or not shown on when written (claims ops-alice)" {
		t.Errorf("lifecycle log etcd user %q; want it unproven, etcd authentication off, claiming ops-alice", cell)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), "1 events of the period were read from etcd under events-by/ written while etcd authentication was off or not shown on") {
		t.Errorf("warnings %q; want one saying the period's events-by/ etcd users are unproven", res.Warnings)
	}
}

// An event binds the etcd user of its key only when the key lies in that
// user's directory directly under the deployment's prefix,
// <prefix>/events-by/<user>/...: a key naming "/events-by/<user>/" under
// another directory (a record's, which the follower's own events keep),
// under another prefix, or in another user's directory than the one the
// event names binds no one. Before, "/events-by/" anywhere in the key
// (before any "/events/") bound the user the event named.
func TestPackBindsOnlyTheDirectoryUnderThePrefix(t *testing.T) {
	t.Parallel()
	ev := func(rev int64, target, key, user string) collector.Event {
		e := mayEvent(rev, 5, 10, "key.create", target, "mallory", map[string]string{"client": "acme-hris", "etcd_user": user})
		e.Key = key
		return e
	}
	want := map[string]string{
		"acmekey4": "bound to no person (claims ops-bob)",
		"acmekey5": "bound to no person (claims ops-bob)",
		"acmekey6": "bound to no person (claims ops-bob)",
		"acmekey7": "bound to no person (claims ops-bob)",
		"acmekey8": "ops-alice",
	}
	res, p := packMayUnder(t, "/p", nil,
		ev(40, "acmekey4", "/p/keys/x/events-by/ops-bob/00000000000000000001-x", "ops-bob"),
		ev(41, "acmekey5", "/q/events-by/ops-bob/00000000000000000002-x", "ops-bob"),
		ev(42, "acmekey6", "/p/events-by/ops-alice/00000000000000000003-x", "ops-bob"),
		ev(43, "acmekey7", "/p/events-by/ops-bob/", "ops-bob"),
		ev(44, "acmekey8", "/p/events-by/ops-alice/00000000000000000004-x", "ops-alice"))
	got := map[string]string{}
	for _, r := range readCSV(t, filepath.Join(res.Dir, FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv")))[1:] {
		if r[1] == "key.create" {
			got[r[2]] = r[len(r)-1]
		}
	}
	for target, w := range want {
		if got[target] != w {
			t.Errorf("lifecycle log etcd user of %s %q; want %q", target, got[target], w)
		}
	}
}
