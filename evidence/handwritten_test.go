package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// packMayPushed is packMayEvents with the example policy as a push of
// etcd's history (revision 1, before May), so that the pushes of the
// period are compared with it.
func packMayPushed(t *testing.T, evs ...collector.Event) (*Result, Period) {
	t.Helper()
	data, key := t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: sinceQ2})
	if err != nil {
		t.Fatal(err)
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
	hist[0].Revision, hist[0].Time = 1, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	p, _ := ParsePeriod("2026-05")
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key, Retention: "400d"})
	if err != nil {
		t.Fatal(err)
	}
	return res, p
}

// handEvent is the flagged event the collector's follower stores for a
// record written by hand at revision rev on May 3 (etcdadmin.handWritten).
func handEvent(rev int64, action, target, why string) collector.Event {
	return collector.Event{Time: time.Date(2026, 5, 3, 9, 0, 0, 0, time.UTC), Key: "/p/" + action + "/" + target, Revision: rev,
		Action: action, Target: target, Unverified: why}
}

// approvedKeyCreate is a key.create of acme-admin with a second person's
// approval spent in its transaction: alone, the token creation question
// answers Yes.
func approvedKeyCreate() []collector.Event {
	ev := mayEvent
	return []collector.Event{
		ev(10, 2, 9, "approval.request", "apr_dave", "carol", map[string]string{"client": "acme-admin", "route": "keys create", "requester": "carol", "max_uses": "1"}),
		ev(11, 2, 10, "approval.grant", "apr_dave", "dave", map[string]string{"client": "acme-admin", "route": "keys create", "requester": "carol", "approver": "dave"}),
		ev(12, 2, 11, "approval.use", "apr_dave", "carol", map[string]string{"client": "acme-admin", "route": "keys create"}),
		ev(12, 2, 11, "key.create", "acmeadm7", "carol", map[string]string{"client": "acme-admin", "approval": "apr_dave"}),
	}
}

// checklistText reads the pack's checklist.
func checklistText(t *testing.T, res *Result, p Period) string {
	t.Helper()
	md, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	return string(md)
}

// A key record put in etcd by hand (no key.create) is a credential the
// trail names only by the follower's flag, key.written_unattributed. The
// token creation question counted key events and answered Yes over it;
// it now answers No, naming the key as written by hand, no event.
func TestKeyWrittenByHandAnswersTokenCreationNo(t *testing.T) {
	t.Parallel()
	evs := append(approvedKeyCreate(),
		handEvent(20, "key.written_unattributed", "handmade1", `key record "handmade1" written at etcd revision 20 with no key.create or key.rotate event in its transaction (written by hand, no event)`))
	res, p := packMayPushed(t, evs...)
	const q = "Is token creation approved and logged?"
	if a := checklistAnswers(t, res, p)[q]; a != "No" {
		t.Errorf("%q answered %q; want No: key record handmade1 was written by hand, no event", q, a)
	}
	want := `; 1 written by hand, no event (flagged: see the lifecycle log's unverified column): key record "handmade1" written at revision 20 |`
	if md := checklistText(t, res, p); !strings.Contains(md, want) {
		t.Errorf("checklist lacks %q:\n%s", want, md)
	}
}

// The outsider's sequence as the trail holds it: the policy put by hand
// (privileged_key_approval off), keys rotate of a privileged client's key
// with no approval, the policy put back by hand. The two puts are the
// follower's flagged policy.written_unattributed events; the two-person
// question, which compared only the pushes of etcd's history, answered
// Yes. It answers No, naming both puts as written by hand, no event, and
// the lifecycle log lists them with the rotation between.
func TestPackShowsARotationBetweenTwoPolicyPutsByHand(t *testing.T) {
	t.Parallel()
	why := func(rev string) string {
		return `policy "/p/policy" written at etcd revision ` + rev + ` with no policy.push event in its transaction (written by hand, no event)`
	}
	evs := append(approvedKeyCreate(),
		handEvent(20, "policy.written_unattributed", "/p/policy", why("20")),
		mayEvent(21, 3, 10, "key.rotate", "acmeadm7", "mallory", map[string]string{"client": "acme-admin", "new_key": "acmeadm9"}),
		handEvent(22, "policy.written_unattributed", "/p/policy", why("22")))
	res, p := packMayPushed(t, evs...)
	answers := checklistAnswers(t, res, p)
	for _, q := range []string{"Do changes that weaken the two-person rule take a second person?", "Is token creation approved and logged?"} {
		if a := answers[q]; a != "No" {
			t.Errorf("%q answered %q; want No: the policy was put by hand around a rotation with no approval", q, a)
		}
	}
	want := "; 2 written by hand, no event (flagged: see the lifecycle log's unverified column): the policy written at revision 20, the policy written at revision 22 |"
	if md := checklistText(t, res, p); !strings.Contains(md, want) {
		t.Errorf("checklist lacks %q:\n%s", want, md)
	}
	var got []string
	for _, r := range readCSV(t, filepath.Join(res.Dir, FileName("APIAuth", "TokenLifecycleLog", p.Name, "csv")))[1:] {
		if r[6] >= "20" && r[6] <= "22" {
			got = append(got, r[1]+"@"+r[6])
			if strings.HasSuffix(r[1], "_unattributed") && !strings.Contains(r[7], "written by hand, no event") {
				t.Errorf("lifecycle log row %q: unverified column does not say written by hand, no event", r)
			}
		}
	}
	if w := "policy.written_unattributed@20 key.rotate@21 policy.written_unattributed@22"; strings.Join(got, " ") != w {
		t.Errorf("lifecycle log rows of revisions 20-22: %q, want %q", got, w)
	}
}

// A revocation deleted by hand un-revokes its key, and a suspension
// written by hand suspends a client no client.suspend names: the
// follower flags both (revocation.deleted_unattributed,
// suspension.written_unattributed) and the lifecycle log lists them, but
// the revocation question counted only the key.revoke and client.suspend
// events and answered Yes over them. It answers No, naming each as
// written by hand, no event.
func TestRevocationChangedByHandAnswersRevocationNo(t *testing.T) {
	data := t.TempDir()
	revocationStore(t, data, keyDenial("key_revoked", "r-1"))
	at := time.Date(2026, 5, 10, 15, 0, 0, 0, time.UTC)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: checklistKey, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	del := handEvent(50, "revocation.deleted_unattributed", "acmehris1", `revocation of "acmehris1" deleted at etcd revision 50 with no token.revocation_expired event in its transaction (deleted by hand): the key or token is no longer revoked`)
	put := handEvent(51, "suspension.written_unattributed", "acme-hris", `suspension of client "acme-hris" written at etcd revision 51 with no client.suspend event in its transaction (written by hand)`)
	del.Time, put.Time = at, at
	if err := st.AppendEvents([]collector.Event{del, put}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	list, _ := packChecklistWith(t, data, "2026-Q2", sidecars(false))
	want := `; 2 written by hand, no event (flagged: see the lifecycle log's unverified column): revocation "acmehris1" deleted at revision 50, suspension of client "acme-hris" written at revision 51 |`
	if got := answerOf(t, list, revokedQuestion); got != "No" || !strings.Contains(list, want) {
		t.Errorf("a revocation deleted and a suspension written by hand answered %s, want No with %q:\n%s", got, want, list)
	}
}
