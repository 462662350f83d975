package alert

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// TestBoundSenderUntenantedRecordNotContained: a sender bound to tenant
// acme may deliver records of no tenant (denials before a credential was
// established), and the engine takes the tenant of such a record from the
// key id it names. A stolen acme token wrote 429s of no tenant naming
// globex's key; the engine read them as globex-bi's and revoked its key:
// a containment across tenants through the door the binding left open.
// Such a record's key now names a subject only within the tenants its
// sender is bound to; the same records from an acme key still do. (Such
// records no longer count toward a rule that acts at all, naming no
// verified client: TestContainmentNeedsVerifiedClient; the rule here
// notifies, and the binding still decides whose alert it is.)
func TestBoundSenderUntenantedRecordNotContained(t *testing.T) {
	t.Parallel()
	doc := examplePolicy(t)
	doc.Detection = append(doc.Detection,
		policy.DetectionSpec{Name: "throttled", Kind: KindRateLimitSpike, GroupBy: "client", Threshold: 5, Window: "5m", Severity: "high"})
	r := newRig(t, doc)
	const token = "acme-token-0123456789abcdef0123456789ab"
	col, err := collector.New(r.store, collector.Config{Tokens: []collector.SenderToken{{Name: "acme", Token: token, Tenants: []string{"acme"}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	defer srv.Close()
	for i, key := range []string{"globexbi1", "acmehris1"} {
		recs := make([]audit.Record, 6)
		for j := range recs {
			recs[j].Time = time.Now().UnixNano()
			recs[j].Route, recs[j].Status, recs[j].Decision = "/v1/users", 429, audit.RateLimited
			recs[j].SetKeyID([]byte(key))
		}
		if code := postBatch(t, srv.URL, token, "i", "b-"+itoa(i), recs...); code != 200 {
			t.Fatalf("batch %d: status %d, want 200 (records of no tenant pass the binding)", i, code)
		}
	}
	var acme int
	for _, a := range r.eng.Alerts() {
		if a.Client == "globex-bi" || a.KeyID == "globexbi1" || a.Tenant == "globex" {
			t.Errorf("alert %s (rule %s) names tenant %q client %q key %q from records of a sender bound to acme", a.ID, a.Rule, a.Tenant, a.Client, a.KeyID)
		}
		if a.Client == "acme-hris" {
			acme++
		}
	}
	if acme != 1 {
		t.Errorf("%d alerts of acme-hris, want 1 (its own key, from its tenant's sender)", acme)
	}
}
