package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// The CLI refuses a push giving a client a privileged scope when a key
// of that client was made after the push's approval was asked
// (etcdadmin.noKeysSince): the approver did not see it, and it becomes a
// privileged credential. A push written into etcd by hand skips that
// check; the pack read it as one a second person approved. Key
// fkhvw9yyrfot of globex-bi is made at revision 17, after apr_1 was asked
// at 15 and granted at 16; the push at 20 makes globex-bi privileged. The
// same key made at 14, before the request, is one the approver saw; a
// key rotated in since is a key made since.
func TestPackFlagsAPrivilegedPushOverAKeyMadeSinceItsApproval(t *testing.T) {
	strict := strings.Replace(examplePolicyText(t), "privileged_key_approval: false", "privileged_key_approval: true", 1)
	priv := strings.Replace(strict, "owner: bi-team@globex.example\n    scopes: [read:reports]", "owner: bi-team@globex.example\n    scopes: [read:reports, admin:settings]", 1)
	if priv == strict || !strings.Contains(strict, "privileged_key_approval: true") {
		t.Fatal("example policy changed: edit the test")
	}
	route := pushRoute(priv)
	keyEvent := func(action string, rev int64) collector.Event { // the new key fkhvw9yyrfot
		if action == "key.rotate" {
			return juneEvent(rev, 2, action, "globexbi1", map[string]string{"client": "globex-bi", "new_key": "fkhvw9yyrfot"})
		}
		return juneEvent(rev, 2, action, "fkhvw9yyrfot", map[string]string{"client": "globex-bi"})
	}
	for _, c := range []struct {
		action string
		keyRev int64
		want   string
	}{
		{"key.create", 14, "approval apr_1 spent"},
		{"key.rotate", 17, "weakens the two-person controls; approval apr_1 spent, but key fkhvw9yyrfot of client globex-bi was made at revision 17"},
		{"key.create", 17, "weakens the two-person controls; approval apr_1 spent, but key fkhvw9yyrfot of client globex-bi was made at revision 17, after the approval was asked (revision 15)"},
	} {
		grant := juneEvent(16, 2, "approval.grant", "apr_1", map[string]string{"route": route, "requester": "mallory", "approver": "bob"})
		grant.Actor = "bob"
		flags := packWeakFlags(t, []etcdadmin.HistoryEntry{juneEntry(10, 1, strict), juneEntry(20, 2, priv)}, []collector.Event{
			pushEvent(10, 1, map[string]string{"digest": "d", "weakening_rules": "4"}),
			keyEvent(c.action, c.keyRev),
			juneEvent(15, 2, "approval.request", "apr_1", map[string]string{"route": route, "requester": "mallory", "policy_revision": "10", "weakens_sha256": weakDigest(t, strict, priv)}),
			grant,
			pushEvent(20, 2, map[string]string{"digest": "d", "weakening_rules": "4", "approval": "apr_1", "previous_revision": "10"}),
			juneEvent(20, 2, "approval.use", "apr_1", map[string]string{"route": route, "requester": "mallory"}),
		})
		if !strings.HasPrefix(flags["policy@20"], c.want) {
			t.Errorf("%s of globex-bi at revision %d, approval asked at 15: flagged %q; want %q", c.action, c.keyRev, flags["policy@20"], c.want)
		}
	}
}

// A weakening push whose approval a second person granted and that was
// spent in its transaction, but which is flagged for what its approver
// did not see (a key made since the approval was asked; the approval
// asked against another policy revision than the push replaced), was
// listed in the checklist's fact under "WITHOUT one": it read as a push
// no approval was spent on, sending the reviewer to look for a missing
// approval that is in the trail. It is listed apart, as spent but
// flagged, and the answer stays No.
func TestChecklistNamesAFlaggedPushWithItsApprovalApart(t *testing.T) {
	strict := strings.Replace(examplePolicyText(t), "privileged_key_approval: false", "privileged_key_approval: true", 1)
	priv := strings.Replace(strict, "owner: bi-team@globex.example\n    scopes: [read:reports]", "owner: bi-team@globex.example\n    scopes: [read:reports, admin:settings]", 1)
	if priv == strict || !strings.Contains(strict, "privileged_key_approval: true") {
		t.Fatal("example policy changed: edit the test")
	}
	route := pushRoute(priv)
	for _, c := range []struct {
		keyRev  int64
		askedAt string
		flagged string
	}{
		{17, "10", "a key made since the approval was asked, of a client it makes privileged"},
		{14, "9", "the approval was asked against another policy revision than the one the push replaced"},
	} {
		grant := juneEvent(16, 2, "approval.grant", "apr_1", map[string]string{"route": route, "requester": "mallory", "approver": "bob"})
		grant.Actor = "bob"
		res, p := packWeak(t, []etcdadmin.HistoryEntry{juneEntry(10, 1, strict), juneEntry(20, 2, priv)}, []collector.Event{
			pushEvent(10, 1, map[string]string{"digest": "d", "weakening_rules": "4"}),
			juneEvent(c.keyRev, 2, "key.create", "fkhvw9yyrfot", map[string]string{"client": "globex-bi"}),
			juneEvent(15, 2, "approval.request", "apr_1", map[string]string{"route": route, "requester": "mallory", "policy_revision": c.askedAt}),
			grant,
			pushEvent(20, 2, map[string]string{"digest": "d", "weakening_rules": "4", "approval": "apr_1", "previous_revision": "10"}),
			juneEvent(20, 2, "approval.use", "apr_1", map[string]string{"route": route, "requester": "mallory"}),
		})
		const q = "Do changes that weaken the two-person rule take a second person?"
		if a := checklistAnswers(t, res, p)[q]; a != "No" {
			t.Errorf("%s: %q answered %q; want No: the push at revision 20 is flagged", c.flagged, q, a)
		}
		md, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(md), "WITHOUT one") {
			t.Errorf("%s: checklist lists the push at revision 20, whose approval apr_1 bob granted was spent, as WITHOUT one:\n%s", c.flagged, md)
		}
		want := `with one spent, but flagged as what its approver did not see (see the token lifecycle log): revision 20 at 2026-06-02T09:00:00Z by "mallory" (` + c.flagged + `)`
		if !strings.Contains(string(md), want) {
			t.Errorf("checklist lacks %q:\n%s", want, md)
		}
	}
}
