package evidence

import (
	"strings"
	"testing"
	"time"
)

// review.sign events the collector stored unverified (their etcd key
// rewritten after the event was written, a changes-required made
// approved) counted as approved sign-offs. They are now listed with the
// reason in the review records, and not counted.
func TestUnverifiedSignOffDoesNotCount(t *testing.T) {
	ev := signOff(time.Date(2026, 7, 3, 10, 0, 0, 0, time.UTC), 20, ReviewAccess, "2026-Q2")
	ev.Unverified = "event key rewritten at revision 21 after its creation at 20"
	data := t.TempDir()
	reviewStore(t, data, ev)
	list, reviews := packChecklist(t, data, "2026-Q2")
	if answerOf(t, list, reviewedQuestion) != "No" {
		t.Errorf("Q2 checklist counts an unverified sign-off:\n%s", list)
	}
	if !strings.Contains(reviews, "access-2026-Q2") || !strings.Contains(reviews, ev.Unverified) {
		t.Errorf("Q2 review records do not show the sign-off as unverified:\n%s", reviews)
	}
}
