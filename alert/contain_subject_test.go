package alert

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// TestContainActsOnlyOnItsClient: a rule grouped by source address (or
// tenant) names no client of its own: the alert's client and key id are
// those of the record that crossed the threshold, whoever's it is. 29
// probes of globex-bi and one of acme-hris from one address must not
// revoke acme-hris's key nor suspend acme-hris: containment acts only on
// an alert grouped by client, and the policy refuses an action on another
// group (policy TestLoadDetection). (Guesses under key ids, which once
// showed it, no longer count toward an acting rule at all:
// TestContainmentNeedsVerifiedClient.)
func TestContainActsOnlyOnItsClient(t *testing.T) {
	t.Parallel()
	doc := examplePolicy(t)
	// As a policy loaded before the check would have it.
	doc.Detection = append(doc.Detection,
		policy.DetectionSpec{Name: "guess-source-revoke", Kind: KindTenantProbe, GroupBy: "source", Threshold: 30, Window: "1m", Severity: "high", Action: "revoke_key"},
		policy.DetectionSpec{Name: "guess-source-suspend", Kind: KindTenantProbe, GroupBy: "source", Threshold: 30, Window: "1m", Severity: "high", Action: "suspend", Suspend: "1h"})
	r := newRig(t, doc)
	globex := func(s *collector.StoredRecord) { s.Tenant, s.Client, s.KeyID = "globex", "globex-bi", "globexbi1" }
	recs := every(t0, time.Second, 29, probed, globex, from("203.0.113.66"))
	recs = append(recs, rec(t0.Add(29*time.Second), probed, from("203.0.113.66")))
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
