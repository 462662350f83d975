package alert

import (
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// TestDetectionAndAssessHoldTheSenderCeiling: one sender's folds of one
// second are believed up to collector.MaxSenderRequestsPerSecond (1,000
// full folds); the store flags a record past it, which counts one. Before,
// detection and incident assess believed every record of a sender whatever
// their sum: 1,001 full folds of guesses at acme-hris's key in one second
// counted 65,601,536 in the source's alert and in the client's assessment.
// Detection, at intake, and assess, reading the trail, now take the same
// figure from the one rule (collector.StoredRecord.Requests).
func TestDetectionAndAssessHoldTheSenderCeiling(t *testing.T) {
	t.Parallel()
	recs := make([]collector.StoredRecord, policy.MaxGlobalSidecars+1)
	for i := range recs {
		recs[i] = rec(t0, failed("acmehris1"), from("203.0.113.7"), folded(audit.MaxFoldCount))
	}
	const want = policy.MaxGlobalSidecars*audit.MaxFoldCount + 1
	r := newRig(t, examplePolicy(t))
	r.send(recs...)
	if src := wantAlerts(t, r, "token-guessing-source", 1)[0]; src.Count != want {
		t.Errorf("source alert count = %d, want %d (a sender's second held at the ceiling, the fold past it one)", src.Count, want)
	}
	if a := assessStored(t, "acme-hris", recs); a.Records != want {
		t.Errorf("assessed records %d, want %d, as detection counts them", a.Records, want)
	}
}
