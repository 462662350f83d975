package evidence

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// A delete the follower could not tell from its lease's end, etcd not
// answering whether the lease held, is stored flagged
// etcdadmin.FlagLeaseUnchecked under the action of a delete by hand. The
// pack counted it as written by hand and answered No; it is its lease's
// end or a delete by hand, so it is named apart, as unchecked, and the
// answer stays what the rest of the trail makes it.
func TestPackNamesALeaseUncheckedDeleteApart(t *testing.T) {
	t.Parallel()
	why := etcdadmin.FlagLeaseUnchecked + `: approval record "apr_old" deleted at etcd revision 20, past its end 2026-05-03T08:00:00Z by the follower's clock; etcd did not answer whether its lease still held`
	evs := append(approvedKeyCreate(), handEvent(20, etcdadmin.ActionApprovalDeleted, "apr_old", why))
	res, p := packMayPushed(t, evs...)
	const q = "Do changes that weaken the two-person rule take a second person?"
	if a := checklistAnswers(t, res, p)[q]; !strings.HasPrefix(a, "Yes") {
		t.Errorf("%q answered %q; want Yes: a delete with its lease unchecked is no hand write", q, a)
	}
	md := checklistText(t, res, p)
	if want := `; 1 deleted past their end with their lease unchecked (` + etcdadmin.FlagLeaseUnchecked; !strings.Contains(md, want) ||
		!strings.Contains(md, `approval record "apr\_old" deleted at revision 20`) && !strings.Contains(md, `approval record "apr_old" deleted at revision 20`) {
		t.Errorf("checklist lacks %q naming approval record apr_old:\n%s", want, md)
	}
	if strings.Contains(md, "written by hand, no event") {
		t.Errorf("checklist counts the unchecked delete as written by hand:\n%s", md)
	}
}
