package evidence

import (
	"slices"
	"strings"
	"testing"
)

// TestPackTellsOfRequestsNamingNoApprovalOfThePeriod: the approval
// samples have a row for each approval an event of the period names, and
// the requests naming any other approval id (one no approval event of the
// trail names: made up by its sender, or an approval whose events the
// trail lost) were in no row and no warning while fewer than 100,000 such
// ids came: an allowed privileged request under an approval the trail
// does not know went unseen, where the docs say every request naming an
// approval is counted. The pack now warns of them, with their counts.
// (Knowing such an approval from etcd would change nothing the pack
// shows: it gets no row either way, and etcd keeps a grant only on the
// lease of its max_age.)
func TestPackTellsOfRequestsNamingNoApprovalOfThePeriod(t *testing.T) {
	at := approvalAt
	res := packApprovalSamples(t, // the rows stay those of TestPackApprovalSamples
		approvalRecord(at(4, 12), "allowed", "apr_not_in_trail", 200),
		approvalRecord(at(4, 12), "allowed", "apr_not_in_trail", 200),
		approvalRecord(at(4, 12), "approval_required", "apr_made_up", 403))
	const warning = "2 allowed and 1 refused requests of the period named 2 approval ids no approval event of the period names"
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, warning) }) {
		t.Errorf("the pack's warnings %q do not say %q", res.Warnings, warning)
	}
}
