package alert

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// TestContainActsOnlyOnItsClient: a rule grouped by source address (or
// tenant) names no client of its own: the alert's client and key id are
// those of the record that crossed the threshold, and a guesser chooses
// them (any key id, unverified). 29 requests without a key and one with
// acme-hris's key id from the guesser's address must not revoke
// acme-hris's key nor suspend acme-hris: containment acts only on an
// alert grouped by client, and the policy refuses an action on another
// group (policy TestLoadDetection).
func TestContainActsOnlyOnItsClient(t *testing.T) {
	t.Parallel()
	doc := examplePolicy(t)
	// As a policy loaded before the check would have it.
	doc.Detection = append(doc.Detection,
		policy.DetectionSpec{Name: "guess-source-revoke", Kind: KindAuthFailures, GroupBy: "source", Threshold: 30, Window: "1m", Severity: "high", Action: "revoke_key"},
		policy.DetectionSpec{Name: "guess-source-suspend", Kind: KindAuthFailures, GroupBy: "source", Threshold: 30, Window: "1m", Severity: "high", Action: "suspend", Suspend: "1h"})
	r := newRig(t, doc)
	recs := every(t0, time.Second, 29, failed(""), from("203.0.113.66"))
	recs = append(recs, rec(t0.Add(29*time.Second), failed("acmehris1"), from("203.0.113.66")))
	r.send(recs...)
	var acted []string
	acts := Actions{
		Suspend: func(_ context.Context, client string, _ time.Duration, _, _ string) error {
			acted = append(acted, "suspend "+client)
			return nil
		},
		Revoke: func(_ context.Context, keyID, _, _ string) error { acted = append(acted, "revoke "+keyID); return nil },
		Record: func(context.Context, string, string, string, map[string]string) error { return nil },
	}
	for _, rule := range []string{"guess-source-revoke", "guess-source-suspend"} {
		a := wantAlerts(t, r, rule, 1)[0]
		if err := Contain(context.Background(), acts, &a, time.Hour); !errors.Is(err, ErrNothingToContain) {
			t.Errorf("%s: Contain = %v, want ErrNothingToContain", rule, err)
		}
	}
	if len(acted) > 0 {
		t.Errorf("containment of alerts about a source address did %v", acted)
	}
}
