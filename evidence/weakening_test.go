package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestPackFlagsWeakeningPushWithoutApproval: portcullis policy push
// refuses a push that weakens the two-person controls without a second
// person's approval spent with it (review62), but an operator writing
// the history and the policy into etcd by hand, or with a CLI from before
// the rule, gets past it, and the pack said nothing: its checklist asked
// only whether key creations had tickets. The pack now compares each push
// of the period with the policy before it: a weakening push is listed in
// the token lifecycle log with the approval spent on it, or flagged, and
// the checklist's answer is No while one is flagged.
func TestPackFlagsWeakeningPushWithoutApproval(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	raw, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(strings.Replace(string(raw), "privileged_key_approval: false", "privileged_key_approval: true", 1),
		"require_ticket: false", "require_ticket: true", 1)
	day := func(d int) time.Time { return time.Date(2026, 6, d, 9, 0, 0, 0, time.UTC) }
	entry := func(rev int64, d int, actor, doc string) etcdadmin.HistoryEntry {
		return etcdadmin.HistoryEntry{Revision: rev, Time: day(d), Actor: actor, Digest: "d" + actor, Document: doc}
	}
	keyOff := strings.Replace(base, "privileged_key_approval: true", "privileged_key_approval: false", 1)
	ticketOff := strings.Replace(keyOff, "require_ticket: true", "require_ticket: false", 1)
	hist := []etcdadmin.HistoryEntry{
		entry(10, 1, "alice", base),
		entry(20, 2, "alice", keyOff),               // approved, the approval spent with it
		entry(30, 3, "mallory", ticketOff),          // no approval named
		entry(40, 4, "mallory", base),               // tightens: nothing to approve
		entry(50, 5, "mallory", keyOff+"# again\n"), // a grant for an export spent on it by hand
	}
	ev := func(rev int64, d int, action, target string, details map[string]string) collector.Event {
		b, _ := json.Marshal(details)
		return collector.Event{Time: day(d), Key: "/p/events/" + action + target, Revision: rev, Actor: "alice", Action: action, Target: target, Ticket: "CHG-7", Details: b}
	}
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents([]collector.Event{
		ev(10, 1, "policy.push", "/p/policy", map[string]string{"digest": "dalice"}),
		ev(20, 2, "policy.push", "/p/policy", map[string]string{"digest": "dalice", "approval": "apr_weak"}),
		ev(20, 2, "approval.use", "apr_weak", map[string]string{"route": pushRoute(keyOff)}),
		ev(30, 3, "policy.push", "/p/policy", map[string]string{"digest": "dmallory"}),
		ev(40, 4, "policy.push", "/p/policy", map[string]string{"digest": "dmallory"}),
		ev(50, 5, "policy.push", "/p/policy", map[string]string{"digest": "dmallory", "approval": "apr_export"}),
		ev(50, 5, "approval.use", "apr_export", map[string]string{"client": "acme-admin", "route": "POST /v1/exports/full"}),
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	p, _ := ParsePeriod("2026-06")
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d",
		Now: func() time.Time { return time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	const q = "Do changes that weaken the two-person rule take a second person?"
	if a := checklistAnswers(t, res, p)[q]; !strings.HasPrefix(a, "No") {
		t.Errorf("%q answered %q; want No: revision 30 turned require_ticket off with no approval", q, a)
	}
	checklist, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	if want := `3 policy pushes in period weakened the two-person controls`; !strings.Contains(string(checklist), want) ||
		!strings.Contains(string(checklist), `WITHOUT one: revision 30 at 2026-06-03T09:00:00Z by "mallory"`) {
		t.Errorf("checklist lacks %q and the unapproved revision 30:\n%s", want, checklist)
	}
	flags := weakeningFlags(t, res, p)
	if len(flags) != 3 || flags["policy@20"] != "approval apr_weak spent" || !strings.HasPrefix(flags["policy@30"], "weakens the two-person controls without an approval") ||
		!strings.Contains(flags["policy@50"], "no approval.use of it for this document") {
		t.Errorf("lifecycle log's weakening pushes: %q; want policy@20 with apr_weak spent, policy@30 and policy@50 (an export's grant) flagged", flags)
	}
}

// weakeningFlags reads the weakening pushes of the pack's token lifecycle
// log: what each says of its approval, by target (policy@<revision>).
func weakeningFlags(t *testing.T, res *Result, p Period) map[string]string {
	t.Helper()
	flags := map[string]string{}
	for _, r := range readCSV(t, filepath.Join(res.Dir, FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv"))) {
		if strings.HasPrefix(r[1], "policy.push (weakens") {
			flags[r[2]] = r[8]
		}
	}
	return flags
}

// pushRoute is the route of an approval for pushing doc.
func pushRoute(doc string) string {
	sum := sha256.Sum256([]byte(doc))
	return etcdadmin.PolicyPushRoute(hex.EncodeToString(sum[:]))
}

// TestPackFromPolicyFileCannotShowTwoPersonPushes: a pack built from a
// policy file (--policy, no etcd) holds no push history, so it cannot
// tell whether a push of the period weakened the two-person controls;
// it answered the question "Yes" from zero pushes read, a Yes it could
// not show, while the trail held a push of the period naming no approval.
func TestPackFromPolicyFileCannotShowTwoPersonPushes(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents([]collector.Event{{Time: time.Date(2026, 6, 3, 9, 0, 0, 0, time.UTC), Key: "/p/events/push", Revision: 30,
		Actor: "mallory", Action: "policy.push", Target: "/p/policy", Details: json.RawMessage(`{"digest":"d"}`)}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	p, _ := ParsePeriod("2026-06")
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d",
		Now: func() time.Time { return time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	const q = "Do changes that weaken the two-person rule take a second person?"
	if a := checklistAnswers(t, res, p)[q]; !strings.HasPrefix(a, "No") || strings.Contains(a, "Yes") {
		t.Errorf("%q answered %q in a pack without etcd's push history; want No", q, a)
	}
}

// TestWeakeningPushSpendingASelfGrantedApprovalIsFlagged: an approval
// granted by its own requester (written to etcd without approvals grant,
// which refuses it) and spent on a weakening push was counted as "a
// second person's approval spent", and the two-person question answered
// Yes, while the approval samples flagged the same grant "approved by its
// requester".
//
// The collector's follower now flags such a grant and its use unverified
// (etcdadmin.selfGrantProblem): the push is still flagged as spending a
// self-granted approval, not as one named and never spent, which it read
// as before (the use unverified).
func TestWeakeningPushSpendingASelfGrantedApprovalIsFlagged(t *testing.T) {
	for _, flagged := range []bool{false, true} {
		t.Run(fmt.Sprintf("follower flags %v", flagged), func(t *testing.T) { testSelfGrantedWeakeningPush(t, flagged) })
	}
}

func testSelfGrantedWeakeningPush(t *testing.T, flagged bool) {
	data, key := t.TempDir(), newKey(t)
	raw, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(string(raw), "privileged_key_approval: false", "privileged_key_approval: true", 1)
	keyOff := strings.Replace(base, "privileged_key_approval: true", "privileged_key_approval: false", 1)
	day := func(d int) time.Time { return time.Date(2026, 6, d, 9, 0, 0, 0, time.UTC) }
	hist := []etcdadmin.HistoryEntry{
		{Revision: 10, Time: day(1), Actor: "alice", Digest: "d1", Document: base},
		{Revision: 20, Time: day(2), Actor: "alice", Digest: "d2", Document: keyOff},
	}
	ev := func(rev int64, d int, action, target string, details map[string]string) collector.Event {
		b, _ := json.Marshal(details)
		return collector.Event{Time: day(d), Key: "/p/events/" + action + target, Revision: rev, Actor: "alice", Action: action, Target: target, Ticket: "CHG-7", Details: b}
	}
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	route := pushRoute(keyOff)
	evs := []collector.Event{
		ev(10, 1, "policy.push", "/p/policy", map[string]string{"digest": "d1"}),
		ev(15, 2, "approval.request", "apr_self", map[string]string{"route": route, "requester": "alice"}),
		ev(16, 2, "approval.grant", "apr_self", map[string]string{"route": route, "requester": "alice", "approver": "Alice"}),
		ev(20, 2, "policy.push", "/p/policy", map[string]string{"digest": "d2", "approval": "apr_self"}),
		ev(20, 2, "approval.use", "apr_self", map[string]string{"route": route, "requester": "alice"}),
	}
	if flagged {
		evs[2].Unverified = `approval "apr_self" granted by its requester: approver "Alice", requester "alice"`
		evs[4].Unverified = evs[2].Unverified
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
	const q = "Do changes that weaken the two-person rule take a second person?"
	if a := checklistAnswers(t, res, p)[q]; !strings.HasPrefix(a, "No") || strings.Contains(a, "Yes") {
		t.Errorf("%q answered %q; want No: revision 20 spent an approval its requester granted", q, a)
	}
	for _, r := range readCSV(t, filepath.Join(res.Dir, FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv"))) {
		if strings.HasPrefix(r[1], "policy.push (weakens") && !strings.Contains(r[8], "granted by its requester") {
			t.Errorf("lifecycle log's weakening push %q flagged %q; want the self-granted approval named", r[2], r[8])
		}
	}
}

// TestPushOfAnOlderReleaseIsNamedApart: weakening rules 2 made turning
// audit.mode from strict to best_effort (and other kinds) need an
// approval. A pack whose period spans the upgrade judged the pushes
// before it by the new kinds and flagged a strict -> best_effort push of
// the old CLI "without an approval (... written by hand?)", a false
// alarm on every such pack. A push whose policy.push event names older
// rules (none named: 1) and weakens only by later kinds is named apart;
// the same push of a CLI of rules 2, or one with no event at all, is
// flagged as before.
func TestPushOfAnOlderReleaseIsNamedApart(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	raw, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	loose := string(raw)
	strict := strings.Replace(loose, "mode: best_effort", "mode: strict", 1)
	if strict == loose {
		t.Fatal("examples/policy.yaml has no audit mode: best_effort to turn")
	}
	day := func(d int) time.Time { return time.Date(2026, 6, d, 9, 0, 0, 0, time.UTC) }
	entry := func(rev int64, d int, doc string) etcdadmin.HistoryEntry {
		return etcdadmin.HistoryEntry{Revision: rev, Time: day(d), Actor: "alice", Digest: "d", Document: doc}
	}
	hist := []etcdadmin.HistoryEntry{
		entry(10, 1, strict),
		entry(20, 2, loose), // the old CLI: no weakening_rules named
		entry(30, 3, strict),
		entry(40, 4, loose), // a CLI of rules 2, no approval: past it
		entry(50, 5, strict),
		entry(60, 6, loose), // no event: by hand
	}
	ev := func(rev int64, d int, details map[string]string) collector.Event {
		b, _ := json.Marshal(details)
		return collector.Event{Time: day(d), Key: "/p/events/push", Revision: rev, Actor: "alice", Action: "policy.push", Target: "/p/policy", Details: b}
	}
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents([]collector.Event{
		ev(10, 1, map[string]string{"digest": "d"}),
		ev(20, 2, map[string]string{"digest": "d"}),
		ev(30, 3, map[string]string{"digest": "d", "weakening_rules": "2"}),
		ev(40, 4, map[string]string{"digest": "d", "weakening_rules": "2"}),
		ev(50, 5, map[string]string{"digest": "d", "weakening_rules": "2"}),
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	p, _ := ParsePeriod("2026-06")
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d",
		Now: func() time.Time { return time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	flags := weakeningFlags(t, res, p)
	if len(flags) != 3 || !strings.HasPrefix(flags["policy@20"], "weakens the two-person controls only by kinds its release did not hold to an approval (its policy.push event names weakening rules 1") ||
		!strings.HasPrefix(flags["policy@40"], "weakens the two-person controls without an approval") ||
		!strings.HasPrefix(flags["policy@60"], "weakens the two-person controls without an approval") {
		t.Errorf("lifecycle log's weakening pushes: %q; want policy@20 named as an older release's, policy@40 and policy@60 flagged without an approval", flags)
	}
	checklist, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(checklist), `WITHOUT one: revision 40 at 2026-06-04T09:00:00Z by "alice", revision 60 at`) ||
		!strings.Contains(string(checklist), `did not hold their kinds to an approval, so check they were reviewed: revision 20 at 2026-06-02T09:00:00Z`) {
		t.Errorf("checklist does not name revision 20 apart from 40 and 60:\n%s", checklist)
	}
	const q = "Do changes that weaken the two-person rule take a second person?"
	if a := checklistAnswers(t, res, p)[q]; !strings.HasPrefix(a, "No") {
		t.Errorf("%q answered %q; want No", q, a)
	}
}

// TestOlderRulesAfterTodaysAreFlagged: a policy.push event's details are
// the operator's word (the follower checks only that the policy was put
// at its revision), so one who writes a weakening push by hand can name
// weakening rules 1, or none. After a push of today's rules is in the
// trail, such a push is no older release's: it is flagged as one past
// the CLI, not named apart as "check the change was reviewed".
func TestOlderRulesAfterTodaysAreFlagged(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	raw, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	loose := string(raw)
	strict := strings.Replace(loose, "mode: best_effort", "mode: strict", 1)
	day := func(d int) time.Time { return time.Date(2026, 6, d, 9, 0, 0, 0, time.UTC) }
	entry := func(rev int64, d int, doc string) etcdadmin.HistoryEntry {
		return etcdadmin.HistoryEntry{Revision: rev, Time: day(d), Actor: "mallory", Digest: "d", Document: doc}
	}
	hist := []etcdadmin.HistoryEntry{
		entry(10, 1, strict),
		entry(20, 2, loose), // the CLI of rules 2, with an approval
		entry(30, 3, strict),
		entry(40, 4, loose), // by hand, its event naming rules 1
		entry(50, 5, strict),
		entry(60, 6, loose), // by hand, its event naming none
	}
	ev := func(rev int64, d int, details map[string]string) collector.Event {
		b, _ := json.Marshal(details)
		return collector.Event{Time: day(d), Key: "/p/events/push", Revision: rev, Actor: "mallory", Action: "policy.push", Target: "/p/policy", Details: b}
	}
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendEvents([]collector.Event{
		ev(20, 2, map[string]string{"digest": "d", "weakening_rules": "2", "approval": "apr_1"}),
		ev(30, 3, map[string]string{"digest": "d", "weakening_rules": "2"}),
		ev(40, 4, map[string]string{"digest": "d", "weakening_rules": "1"}),
		ev(60, 6, map[string]string{"digest": "d"}),
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	p, _ := ParsePeriod("2026-06")
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d",
		Now: func() time.Time { return time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(res.Dir, FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv")))
	flags := map[string]string{}
	for _, r := range rows {
		if strings.HasPrefix(r[1], "policy.push (weakens") {
			flags[r[2]] = r[8]
		}
	}
	for _, at := range []string{"policy@40", "policy@60"} {
		if !strings.HasPrefix(flags[at], "weakens the two-person controls without an approval (no policy.push event naming one") {
			t.Errorf("%s, an event naming older rules after a push of rules 2: flagged %q; want flagged without an approval", at, flags[at])
		}
	}
}
