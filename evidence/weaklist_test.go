package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// A push approval binds the SHA-256 of the weakening list its request
// computed (weakens_sha256); the CLI refuses a push weakening by another
// list (etcdadmin.sameWeakenings). A push written past the CLI, spending
// an approval asked for another list, read in the pack as one a second
// person approved. It is flagged in the lifecycle log and answers the
// two-person question No, the checklist naming the push and both
// digests; an approval naming no digest (an older CLI's request) is
// named apart, as asked before the list was bound.
func TestPackFlagsAnApprovalBindingAnotherWeakeningList(t *testing.T) {
	strict := strings.Replace(examplePolicyText(t), "mode: best_effort", "mode: strict", 1)
	loose := examplePolicyText(t)
	pushed := weakDigest(t, strict, loose)
	other := strings.Repeat("ab", 32)
	route := pushRoute(loose)
	const q = "Do changes that weaken the two-person rule take a second person?"
	for _, c := range []struct {
		digest, flag, answer, fact string
	}{
		{pushed, "approval apr_1 spent", "Yes", "1 with a second person's approval spent"},
		{other, "weakens the two-person controls; approval apr_1 binds the weakening list of sha256 " + other + ", but the push weakens by another (sha256 " + pushed + ")", "No",
			`with one spent, but flagged as what its approver did not see (see the token lifecycle log): revision 20 at 2026-06-02T09:00:00Z by "mallory" (the approval binds the weakening list of sha256 "` + other + `", the push weakens by that of sha256 ` + pushed + `)`},
		{"", "weakens the two-person controls; approval apr_1 spent, but asked before the list was bound", "No",
			`with one spent, but asked before the list was bound (its request names no weakening list digest: an older CLI's), so check its approver read what the push weakens: revision 20 at 2026-06-02T09:00:00Z by "mallory" (approval "apr_1")`},
	} {
		req := map[string]string{"route": route, "requester": "mallory", "policy_revision": "10"}
		if c.digest != "" {
			req["weakens_sha256"] = c.digest
		}
		grant := juneEvent(16, 2, "approval.grant", "apr_1", map[string]string{"route": route, "requester": "mallory", "approver": "bob"})
		grant.Actor = "bob"
		res, p := packWeak(t, []etcdadmin.HistoryEntry{juneEntry(10, 1, strict), juneEntry(20, 2, loose)}, []collector.Event{
			pushEvent(10, 1, map[string]string{"digest": "d", "weakening_rules": "4"}),
			juneEvent(15, 2, "approval.request", "apr_1", req),
			grant,
			pushEvent(20, 2, map[string]string{"digest": "d", "weakening_rules": "4", "approval": "apr_1", "previous_revision": "10"}),
			juneEvent(20, 2, "approval.use", "apr_1", map[string]string{"route": route, "requester": "mallory"}),
		})
		if f := weakeningFlags(t, res, p)["policy@20"]; !strings.HasPrefix(f, c.flag) {
			t.Errorf("approval binding list %q: lifecycle log flags policy@20 %q; want %q", c.digest, f, c.flag)
		}
		// The store of the test does not hold the whole period: a Yes
		// reads "Not shown (incomplete ...); Yes only for ...".
		if a := checklistAnswers(t, res, p)[q]; (a == "No") != (c.answer == "No") {
			t.Errorf("approval binding list %q: %q answered %q; want %s", c.digest, q, a, c.answer)
		}
		md, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(md), c.fact) {
			t.Errorf("approval binding list %q: checklist lacks %q:\n%s", c.digest, c.fact, md)
		}
		if strings.Contains(string(md), "WITHOUT one") {
			t.Errorf("approval binding list %q: checklist lists the push at revision 20, whose approval was spent, as WITHOUT one", c.digest)
		}
	}
}

// weakDigest returns the digest of the weakening list of the push of the
// policy text next over prev (no push before prev), as the CLI's request
// stores it (weakens_sha256).
func weakDigest(t *testing.T, prev, next string) string {
	t.Helper()
	p, err := loadDoc(juneEntry(1, 1, prev))
	if err != nil {
		t.Fatal(err)
	}
	n, err := loadDoc(juneEntry(2, 1, next))
	if err != nil {
		t.Fatal(err)
	}
	return etcdadmin.WeakeningsDigest(policy.Weakenings(p, n))
}
