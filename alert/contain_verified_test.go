package alert

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// TestContainmentNeedsVerifiedClient: a key id is no secret (it is the
// front of the key, and services get it in X-Portcullis-Key-Id), so a
// refusal that names only a key id says whose key someone tried, not who
// they are. Counted toward a rule that suspends or revokes, an outsider
// with acme-hris's key id and wrong secrets suspended acme-hris, or
// revoked its key, at will: the example's token-guessing-client rule
// suspended for 15 minutes after 20 of them. A rule with an action now
// counts only records whose credential the sidecar verified; the same
// refusals still open the alerts of rules that notify.
func TestContainmentNeedsVerifiedClient(t *testing.T) {
	t.Parallel()
	doc := examplePolicy(t)
	// An action on auth_failures (the example's rule had one; policy
	// validate notes what it does now), beside kinds whose records can be
	// refusals too.
	doc.Detection = append(doc.Detection,
		policy.DetectionSpec{Name: "guess-suspend", Kind: KindAuthFailures, GroupBy: "client", Threshold: 20, Window: "1m", Severity: "high", Action: "suspend", Suspend: "1h"},
		policy.DetectionSpec{Name: "dead-revoke", Kind: KindDeadCredential, GroupBy: "client", Threshold: 3, Window: "10m", Severity: "high", Action: "revoke_key"},
		policy.DetectionSpec{Name: "egress-suspend", Kind: KindEgressSpike, GroupBy: "client", Bytes: "1KiB", Window: "10m", Severity: "high", Action: "suspend", Suspend: "1h"},
		policy.DetectionSpec{Name: "dead-notify", Kind: KindDeadCredential, GroupBy: "client", Threshold: 3, Window: "10m", Severity: "high"})
	r := newRig(t, doc)
	outsider := from("198.51.100.7")
	r.send(every(t0, time.Second, 25, failed("acmehris1"), outsider, bytesOut(100))...) // wrong secrets under a live key's id
	r.send(every(t0, time.Second, 5, failed("revoked1"), outsider)...)                  // under a revoked key's id
	for _, rule := range []string{"guess-suspend", "dead-revoke", "egress-suspend"} {
		if got := r.alerts(rule); len(got) != 0 {
			t.Errorf("rule %s (action %s): %d alerts from refusals naming only a key id, sent by an outsider; want none: %+v",
				rule, got[0].RuleAction, len(got), got)
		}
	}
	wantAlerts(t, r, "token-guessing-client", 1) // notify: counted as before
	wantAlerts(t, r, "dead-notify", 1)

	// A revoked key whose secret matched (key_revoked) is the client's
	// own credential, still in use: the acting rule counts it.
	usedRevoked := func(s *collector.StoredRecord) {
		s.Status, s.Decision, s.Client, s.Tenant, s.KeyID = 401, "key_revoked", "", "", "revoked1"
	}
	r.send(every(t0.Add(time.Minute), time.Second, 3, usedRevoked)...)
	if a := wantAlerts(t, r, "dead-revoke", 1)[0]; a.Client != "acme-hris" || a.KeyID != "revoked1" {
		t.Errorf("dead-revoke alert = %+v, want acme-hris's revoked1", a)
	}
}
