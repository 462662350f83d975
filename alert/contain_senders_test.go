package alert

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// TestContainNamesSenders: records arrive over loopback at a real
// collector, from two senders; the 429s of one client come from sender
// "stolen" only and fire a suspend rule. The alert, its alert.open event
// (read back after a restart that replays the trail) and the
// alert.contain details name the sender that delivered them, and not the
// other, so a containment driven by forged records is traced to the
// token that sent them.
func TestContainNamesSenders(t *testing.T) {
	t.Parallel()
	doc := examplePolicy(t)
	doc.Detection = append(doc.Detection, policy.DetectionSpec{Name: "throttled-suspend", Kind: KindRateLimitSpike,
		GroupBy: "client", Threshold: 5, Window: "5m", Severity: "high", Action: "suspend", Suspend: "1h"})
	r := newRig(t, doc)
	const stolen, honest = "stolen-token-0123456789abcdef0123456789", "honest-token-0123456789abcdef0123456789"
	col, err := collector.New(r.store, collector.Config{Tokens: []collector.SenderToken{{Name: "stolen", Token: stolen}, {Name: "honest", Token: honest}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	defer srv.Close()
	send := func(token, id, client string, status uint16, n int) {
		t.Helper()
		recs := make([]audit.Record, n)
		for i := range recs {
			recs[i].Time = time.Now().UnixNano()
			recs[i].Tenant, recs[i].Client, recs[i].Route, recs[i].Status = "acme", client, "/v1/users", status
			if status == 429 {
				recs[i].Decision = audit.RateLimited
			}
		}
		if code := postBatch(t, srv.URL, token, "i", id, recs...); code != 200 {
			t.Fatalf("batch %s: status %d", id, code)
		}
	}
	send(honest, "h-1", "acme-hris", 200, 10)
	send(honest, "h-2", "acme-admin", 429, 2)
	send(stolen, "s-1", "acme-hris", 429, 6)

	alerts := wantAlerts(t, r, "throttled-suspend", 1)
	if got := alerts[0].Senders; len(got) != 1 || got[0] != "token:stolen" {
		t.Fatalf("alert senders %q, want [token:stolen]", got)
	}
	var recorded map[string]string
	acts := Actions{
		Suspend: func(context.Context, string, time.Duration, string, string) error { return nil },
		Record: func(_ context.Context, _, _, _ string, d map[string]string) error {
			recorded = d
			return nil
		},
	}
	a := alerts[0]
	if err := Contain(context.Background(), acts, &a, time.Hour); err != nil {
		t.Fatal(err)
	}
	if recorded["senders"] != "token:stolen" || recorded["client"] != "acme-hris" {
		t.Errorf("alert.contain details %v, want senders token:stolen for client acme-hris", recorded)
	}
	srv.Close()
	r.restart()
	if got := wantAlerts(t, r, "throttled-suspend", 1)[0].Senders; len(got) != 1 || got[0] != "token:stolen" {
		t.Errorf("after a restart (replay of the trail) the alert names senders %q, want [token:stolen]", got)
	}
}

// TestForeignClientNotContained: a sender bound to tenant acme (its
// records pass the collector's binding) writes 429s of tenant acme
// naming globex's client, and of acme's client with globex's key id. No
// alert names globex-bi or key globexbi1 to contain: a forged record
// cannot suspend or revoke across tenants.
func TestForeignClientNotContained(t *testing.T) {
	t.Parallel()
	doc := examplePolicy(t)
	doc.Detection = append(doc.Detection,
		policy.DetectionSpec{Name: "throttled-suspend", Kind: KindRateLimitSpike, GroupBy: "client", Threshold: 5, Window: "5m", Severity: "high", Action: "suspend", Suspend: "1h"},
		policy.DetectionSpec{Name: "throttled-revoke", Kind: KindRateLimitSpike, GroupBy: "client", Threshold: 5, Window: "5m", Severity: "high", Action: "revoke_key"})
	r := newRig(t, doc)
	const token = "acme-token-0123456789abcdef0123456789ab"
	col, err := collector.New(r.store, collector.Config{Tokens: []collector.SenderToken{{Name: "acme", Token: token, Tenants: []string{"acme"}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	defer srv.Close()
	for i, c := range []struct{ client, key string }{{"globex-bi", "globexbi1"}, {"acme-hris", "globexbi1"}} {
		recs := make([]audit.Record, 6)
		for j := range recs {
			recs[j].Time = time.Now().UnixNano()
			recs[j].Tenant, recs[j].Client, recs[j].Route, recs[j].Status, recs[j].Decision = "acme", c.client, "/v1/users", 429, audit.RateLimited
			recs[j].SetKeyID([]byte(c.key))
		}
		if code := postBatch(t, srv.URL, token, "i", "b-"+itoa(i), recs...); code != 200 {
			t.Fatalf("batch %d: status %d, want 200 (tenant acme is the sender's)", i, code)
		}
	}
	for _, a := range r.eng.Alerts() {
		if a.Client == "globex-bi" || a.KeyID == "globexbi1" {
			t.Errorf("alert %s (rule %s) names client %q key %q of tenant globex from records of tenant acme", a.ID, a.Rule, a.Client, a.KeyID)
		}
	}
	if n := len(r.alerts("throttled-suspend")); n != 1 {
		t.Errorf("%d throttled-suspend alerts, want 1 (acme-hris, without globex's key)", n)
	}
}
