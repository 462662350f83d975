package alert

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// A revoked key presented with its own secret is refused as key_revoked
// (an unauthenticated record is a wrong secret or an unknown id): a dead
// credential tried, whether or not the engine has seen the revocation
// (here the key is live in the policy and no key.revoke event came), and,
// as before it had its own decision, an authentication failure of its
// client.
func TestDeadCredentialKeyRevokedFires(t *testing.T) {
	t.Parallel()
	r := newRig(t, examplePolicy(t))
	r.send(every(t0, time.Second, 20, func(s *collector.StoredRecord) {
		s.Status, s.Decision, s.Client, s.Tenant, s.KeyID = 401, "key_revoked", "", "", "acmehris1"
	})...)
	if a := r.alerts("dead-credential"); len(a) != 1 || a[0].KeyID != "acmehris1" || a[0].Client != "acme-hris" {
		t.Errorf("dead-credential alerts = %+v, want one for key acmehris1 of acme-hris", a)
	}
	if a := r.alerts("token-guessing-client"); len(a) != 1 || a[0].Client != "acme-hris" {
		t.Errorf("token-guessing-client alerts = %+v, want one for acme-hris", a)
	}
}

// A client certificate that a CRL loaded since its connection's handshake
// lists is refused as cert_revoked (401, its record names no client): an
// authentication failure from its source and a dead credential tried.
// Before, the engine counted neither, so a stolen certificate retried on
// kept-alive connections raised no alert.
func TestCertRevokedCountsAsAuthFailureAndDeadCredential(t *testing.T) {
	t.Parallel()
	doc := examplePolicy(t)
	doc.Detection = append(doc.Detection,
		policy.DetectionSpec{Name: "fail-source", Kind: KindAuthFailures, GroupBy: "source", Threshold: 20, Window: "1m", Severity: "high"},
		policy.DetectionSpec{Name: "dead-source", Kind: KindDeadCredential, GroupBy: "source", Threshold: 20, Window: "1m", Severity: "high"})
	r := newRig(t, doc)
	r.send(every(t0, time.Second, 20, func(s *collector.StoredRecord) {
		s.Status, s.Decision, s.Client, s.Tenant, s.KeyID, s.AuthMethod = 401, "cert_revoked", "", "", "", "mtls"
	}, from("203.0.113.66"))...)
	wantAlerts(t, r, "fail-source", 1)
	wantAlerts(t, r, "dead-source", 1)
}
