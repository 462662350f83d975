package evidence

import (
	"encoding/json"
	"testing"
	"time"
)

// An approved sign-off withdrawn by a changes-required sign-off of the
// same review signed after it still counted: the checklist said the
// evidence was reviewed and approved when the reviewer's last word was
// that it needs changes. The last decision on a review now stands.
func TestChangesRequiredAfterApprovalWithdrawsIt(t *testing.T) {
	approved := signOff(time.Date(2026, 7, 3, 10, 0, 0, 0, time.UTC), 20, ReviewAccess, "2026-Q2")
	withdrawn := signOff(time.Date(2026, 7, 4, 10, 0, 0, 0, time.UTC), 21, ReviewAccess, "2026-Q2")
	withdrawn.Key = "/p/events/r2026-Q2-2"
	withdrawn.Details, _ = json.Marshal(map[string]string{"kind": ReviewAccess, "period": "2026-Q2", "decision": "changes-required"})
	data := t.TempDir()
	reviewStore(t, data, approved, withdrawn)
	if list, _ := packChecklist(t, data, "2026-Q2"); answerOf(t, list, reviewedQuestion) != "No" {
		t.Errorf("Q2 checklist counts an approval withdrawn by a later changes-required:\n%s", list)
	}
	again := signOff(time.Date(2026, 7, 5, 10, 0, 0, 0, time.UTC), 22, ReviewAccess, "2026-Q2")
	again.Key = "/p/events/r2026-Q2-3"
	data = t.TempDir()
	reviewStore(t, data, approved, withdrawn, again)
	if list, _ := packChecklist(t, data, "2026-Q2"); answerOf(t, list, reviewedQuestion) != "Yes" {
		t.Errorf("Q2 checklist does not count the approval signed after the changes were made:\n%s", list)
	}
}
