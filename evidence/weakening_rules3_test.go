package evidence

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// packWeakFlags packs June 2026 from the history and the policy.push (and
// other lifecycle) events given, and returns the lifecycle log's
// weakening pushes: what each says of its approval, by target.
func packWeakFlags(t *testing.T, hist []etcdadmin.HistoryEntry, evs []collector.Event) map[string]string {
	t.Helper()
	res, p := packWeak(t, hist, evs)
	return weakeningFlags(t, res, p)
}

// packWeak packs June 2026 from the history and events given.
func packWeak(t *testing.T, hist []etcdadmin.HistoryEntry, evs []collector.Event) (*Result, Period) {
	t.Helper()
	data, key := t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents(evs); err != nil {
		t.Fatal(err)
	}
	st.Close()
	p, _ := ParsePeriod("2026-06")
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d",
		Now: func() time.Time { return time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return res, p
}

func juneDay(d int) time.Time { return time.Date(2026, 6, d, 9, 0, 0, 0, time.UTC) }

func juneEntry(rev int64, d int, doc string) etcdadmin.HistoryEntry {
	return etcdadmin.HistoryEntry{Revision: rev, Time: juneDay(d), Actor: "mallory", Digest: "d", Document: doc}
}

func juneEvent(rev int64, d int, action, target string, details map[string]string) collector.Event {
	b, _ := json.Marshal(details)
	return collector.Event{Time: juneDay(d), Key: "/p/events/" + action + target, Revision: rev, Actor: "mallory", Action: action, Target: target, Ticket: "CHG-9", Details: b}
}

func pushEvent(rev int64, d int, details map[string]string) collector.Event {
	return juneEvent(rev, d, "policy.push", "/p/policy", details)
}

func examplePolicyText(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// The two-push trick in the trail: revision 20 removes a privileged
// route (a route gone weakens nothing), revision 30 puts it back in the
// standard class without its scope, written past the CLI. Compared with
// the policy before it alone, revision 30 weakened nothing and the pack
// did not list it.
func TestPackFlagsARouteRemovedThenPutBackWithLess(t *testing.T) {
	full := examplePolicyText(t)
	const priv = "  - {method: PUT, path: /v1/admin/settings, class: privileged, scopes: [admin:settings]}\n"
	gone := strings.Replace(full, priv, "", 1)
	back := strings.Replace(full, priv, "  - {method: PUT, path: /v1/admin/settings, class: standard, scopes: [read:users]}\n", 1)
	flags := packWeakFlags(t, []etcdadmin.HistoryEntry{juneEntry(10, 1, full), juneEntry(20, 2, gone), juneEntry(30, 3, back)},
		[]collector.Event{
			pushEvent(10, 1, map[string]string{"digest": "d", "weakening_rules": "3"}),
			pushEvent(20, 2, map[string]string{"digest": "d", "weakening_rules": "3"}),
			pushEvent(30, 3, map[string]string{"digest": "d", "weakening_rules": "3"}),
		})
	if len(flags) != 1 || !strings.HasPrefix(flags["policy@30"], "weakens the two-person controls without an approval") {
		t.Errorf("lifecycle log's weakening pushes: %q; want policy@30 (the route put back with less) flagged without an approval", flags)
	}
}

// Weakening rules 3: a push of a CLI of rules 2 that raises a class's
// max_body (a kind of rules 3) is an older release's, named apart, until
// a push of rules 3 is in the trail. A push naming rules 1 after one of
// rules 2 is held to rules 2: before rules went to 3, only a push naming
// today's rules counted, so an event naming rules 1 by hand after a
// push of rules 2 was named apart again, the hole a0b8fd2 closed.
func TestPackJudgesAPushByTheNewestRulesBelowIt(t *testing.T) {
	base := examplePolicyText(t)
	big := strings.Replace(base, "max_body: 1MiB", "max_body: 64MiB", 1)
	strict, loose := strings.Replace(base, "mode: best_effort", "mode: strict", 1), base
	flags := packWeakFlags(t, []etcdadmin.HistoryEntry{
		juneEntry(10, 1, strict),
		juneEntry(20, 2, loose), // rules 2, with an approval: no flag to look at here
		juneEntry(30, 3, strict),
		juneEntry(40, 4, loose), // by hand, naming rules 1 after a push of rules 2
		juneEntry(50, 5, base),
		juneEntry(60, 6, big), // rules 2: no push of rules 3 yet, named apart
		juneEntry(70, 7, base),
		juneEntry(80, 8, big), // rules 2 after a push of rules 3: past the CLI
	}, []collector.Event{
		pushEvent(10, 1, map[string]string{"digest": "d", "weakening_rules": "2"}),
		pushEvent(20, 2, map[string]string{"digest": "d", "weakening_rules": "2", "approval": "apr_1"}),
		pushEvent(30, 3, map[string]string{"digest": "d", "weakening_rules": "2"}),
		pushEvent(40, 4, map[string]string{"digest": "d", "weakening_rules": "1"}),
		pushEvent(50, 5, map[string]string{"digest": "d", "weakening_rules": "2"}),
		pushEvent(60, 6, map[string]string{"digest": "d", "weakening_rules": "2"}),
		pushEvent(70, 7, map[string]string{"digest": "d", "weakening_rules": "3"}),
		pushEvent(80, 8, map[string]string{"digest": "d", "weakening_rules": "2"}),
	})
	if !strings.HasPrefix(flags["policy@40"], "weakens the two-person controls without an approval") ||
		!strings.HasPrefix(flags["policy@60"], "weakens the two-person controls only by kinds its release did not hold to an approval (its policy.push event names weakening rules 2, before "+strconv.Itoa(policy.WeakeningRules)+")") ||
		!strings.HasPrefix(flags["policy@80"], "weakens the two-person controls without an approval") {
		t.Errorf("lifecycle log's weakening pushes: %q; want policy@40 and policy@80 flagged without an approval, policy@60 named an older release's", flags)
	}
}

// The CLI binds a push approval to the policy revision it was asked
// against (etcdadmin.sameBase); a push written past the CLI, spending an
// approval asked against another revision, read in the pack as one a
// second person approved.
func TestPackFlagsAnApprovalAskedAgainstAnotherRevision(t *testing.T) {
	strict := strings.Replace(examplePolicyText(t), "mode: best_effort", "mode: strict", 1)
	loose := examplePolicyText(t)
	route := pushRoute(loose)
	for _, c := range []struct {
		asked string
		want  string
	}{
		{"10", "approval apr_1 spent"},
		{"5", "weakens the two-person controls; approval apr_1 was asked against the policy at revision 5, but the push replaced revision 10"},
	} {
		grant := juneEvent(16, 2, "approval.grant", "apr_1", map[string]string{"route": route, "requester": "mallory", "approver": "bob"})
		grant.Actor = "bob"
		flags := packWeakFlags(t, []etcdadmin.HistoryEntry{juneEntry(10, 1, strict), juneEntry(20, 2, loose)}, []collector.Event{
			pushEvent(10, 1, map[string]string{"digest": "d", "weakening_rules": "3"}),
			juneEvent(15, 2, "approval.request", "apr_1", map[string]string{"route": route, "requester": "mallory", "policy_revision": c.asked, "weakens_sha256": weakDigest(t, strict, loose)}),
			grant,
			pushEvent(20, 2, map[string]string{"digest": "d", "weakening_rules": "3", "approval": "apr_1", "previous_revision": "10"}),
			juneEvent(20, 2, "approval.use", "apr_1", map[string]string{"route": route, "requester": "mallory"}),
		})
		if !strings.HasPrefix(flags["policy@20"], c.want) {
			t.Errorf("approval asked against revision %s, push over 10: flagged %q; want %q", c.asked, flags["policy@20"], c.want)
		}
	}
}
