package evidence

import (
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
			juneEvent(15, 2, "approval.request", "apr_1", map[string]string{"route": route, "requester": "mallory", "policy_revision": "10"}),
			grant,
			pushEvent(20, 2, map[string]string{"digest": "d", "weakening_rules": "4", "approval": "apr_1", "previous_revision": "10"}),
			juneEvent(20, 2, "approval.use", "apr_1", map[string]string{"route": route, "requester": "mallory"}),
		})
		if !strings.HasPrefix(flags["policy@20"], c.want) {
			t.Errorf("%s of globex-bi at revision %d, approval asked at 15: flagged %q; want %q", c.action, c.keyRev, flags["policy@20"], c.want)
		}
	}
}
