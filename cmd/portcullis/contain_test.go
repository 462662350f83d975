package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
)

// TestRuleActionSuspendsThroughEtcd: acme-hris probing globex's paths,
// stored by the collector, opens the tenant-probe alert, whose rule action
// suspends the client through etcd with a reason naming the alert; the
// collector's follower stores client.suspend and alert.contain in the
// trail and the alert is contained.
func TestRuleActionSuspendsThroughEtcd(t *testing.T) {
	t.Parallel()
	doc, _ := os.ReadFile(examplePolicy)
	c := startEtcdCollector(t, "/contain-test", doc) // the rules from the policy in etcd
	admin, dir, store := c.admin, c.dir, c.store
	ctx := t.Context()
	id := c.containProbing(t)
	sus, err := admin.Suspensions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := sus["acme-hris"]
	if !ok || !strings.Contains(s.Reason, id) || s.Actor != "portcullis-collector" || s.Until.Sub(s.Time) != 15*time.Minute {
		t.Errorf("suspension = %+v (found %v), want acme-hris for 15m by portcullis-collector, reason naming %s", s, ok, id)
	}
	// The follower stores client.suspend from etcd's watch, apart from
	// the alert.contain the collector records itself: wait for it.
	pollUntil(t, pollWait, "the trail holds a client.suspend whose reason names the alert", func() (bool, string) {
		var linked bool
		collector.QueryEvents(dir, time.Time{}, time.Time{}, func(ev *collector.Event) error {
			linked = linked || ev.Action == "client.suspend" && ev.Target == "acme-hris" && strings.Contains(ev.Reason, id)
			return nil
		})
		return linked, "no client.suspend naming " + id
	})

	// Two sidecars (two pods sharing one sender token, told apart by the
	// instance id of their batches) deny the suspended client; the report
	// names when each pod did, first denial only.
	after := time.Now().UTC().Add(time.Second)
	for i, pod := range []string{"pod-a", "pod-b", "pod-a"} {
		rec := collector.StoredRecord{Time: after.Add(time.Duration(i) * time.Millisecond), Tenant: "acme", Client: "acme-hris", KeyID: "acmehris1",
			Method: "GET", Route: "/v1/users", Status: 403, Decision: "suspended", SourceIP: "10.1.2.3", RequestID: "denied-" + pod + "-" + strconv.Itoa(i)}
		b := &collector.Batch{ID: "d" + strconv.Itoa(i), Sender: "token:fleet", Host: "node-1", Instance: pod, Records: []collector.StoredRecord{rec}}
		if err := store.AppendBatch(b); err != nil {
			t.Fatal(err)
		}
	}
	var out, errOut bytes.Buffer
	if code := incidentReport([]string{id, "--data", dir, "--policy", examplePolicy}, &out, &errOut); code != 0 {
		t.Fatalf("incident report = %d: %s", code, &errOut)
	}
	for _, want := range []string{"# Incident report: " + id, "`client.suspend` acme-hris by portcullis-collector", "pod-a (sender token:fleet): first denied request denied-pod-a-0 ",
		"pod-b (sender token:fleet): first denied request denied-pod-b-1 ", "`alert.contain`", "rule: `tenant-probe`"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("incident report lacks %q:\n%s", want, &out)
		}
	}
	if strings.Contains(out.String(), "denied-pod-a-2") {
		t.Errorf("incident report names pod-a's second denial, want its first only:\n%s", &out)
	}
	out.Reset()
	if code := incidentReport([]string{id, "--data", dir, "--format", "json"}, &out, &errOut); code != 0 {
		t.Fatalf("incident report --format json = %d: %s", code, &errOut)
	}
	var rep alert.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Alert.ID != id || rep.Alert.Status != alert.StatusContained ||
		len(rep.Enforcement) != 2 || len(rep.Containment) == 0 || rep.Assessment == nil {
		t.Errorf("incident report json = %+v (%v), want alert %s contained, 2 pods enforcing, the containment and the assessment", rep, err, id)
	}
	out.Reset()
	if code := incidentAssess([]string{"--client", "acme-hris", "--data", dir, "--format", "json", "--policy", examplePolicy}, &out, &errOut); code != 0 {
		t.Fatalf("incident assess = %d: %s", code, &errOut)
	}
	var as alert.Assessment
	if err := json.Unmarshal(out.Bytes(), &as); err != nil || as.Records != 9 || as.Sources["203.0.113.9"] != 6 || as.Decisions["tenant_mismatch"] != 6 || as.Decisions["suspended"] != 3 {
		t.Errorf("assessment = %+v (%v), want 9 records: 6 probes from 203.0.113.9 and 3 suspended", as, err)
	}
	// A client without privileged requests: "privileged" is [], not null.
	out.Reset()
	if code := incidentAssess([]string{"--client", "globex-bi", "--data", dir, "--format", "json", "--policy", examplePolicy}, &out, &errOut); code != 0 || !strings.Contains(out.String(), `"privileged": []`) {
		t.Errorf("incident assess of a client without privileged requests = %d:\n%s%s", code, &out, &errOut)
	}
}

// TestIncidentContainByHand: incident contain suspends the client and
// revokes its keys through etcd, and refuses a call without a ticket.
func TestIncidentContainByHand(t *testing.T) {
	t.Parallel()
	e, admin := etcdAdmin(t, "/incident-test")
	common := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/incident-test", "--actor", "bob"}
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if got := etcdSub(t, "incident contain").main(append(args, common...), &out, &errOut); got != want {
			t.Fatalf("incident contain %v = %d, want %d: %s%s", args, got, want, &out, &errOut)
		}
		return out.String() + errOut.String()
	}
	if got := run(2, "--client", "globex-bi", "--suspend", "1h"); !strings.Contains(got, "--ticket is required") {
		t.Errorf("without a ticket: %q", got)
	}
	run(2, "--client", "globex-bi", "--ticket", "INC-9")
	ctx := context.Background()
	doc, _ := os.ReadFile(examplePolicy)
	if _, err := admin.PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	out := run(0, "--client", "globex-bi", "--ticket", "INC-9", "--suspend", "1h", "--revoke-keys", "--alert", "alert-x")
	if !strings.Contains(out, "suspended globex-bi") || !strings.Contains(out, "revoked key globexbi1") || !strings.Contains(out, "alert.contain for alert-x") {
		t.Errorf("output %q", out)
	}
	sus, _ := admin.Suspensions(ctx)
	if s := sus["globex-bi"]; s.Ticket != "INC-9" || s.Actor != "bob" || !strings.Contains(s.Reason, "alert-x") {
		t.Errorf("suspension %+v, want ticket INC-9 by bob naming alert-x", s)
	}
	k, err := admin.ShowKey(ctx, "globexbi1")
	if err != nil || !k.IsRevoked() {
		t.Errorf("key globexbi1 = %+v, %v; want revoked", k, err)
	}
}

// TestPolicyPushReloadsRules: the collector follows policy pushes; a push
// that gives a client a privileged scope opens a privileged-grant alert.
func TestPolicyPushReloadsRules(t *testing.T) {
	t.Parallel()
	doc, _ := os.ReadFile(examplePolicy)
	c := startEtcdCollector(t, "/reload-test", doc)
	det := c.det
	changed := bytes.Replace(doc, []byte("scopes: [read:reports]\n"), []byte("scopes: [read:reports, export:data]\n"), 1)
	if bytes.Equal(changed, doc) {
		t.Fatal("the example policy changed shape: globex-bi's scopes not found")
	}
	if _, err := c.admin.PushPolicy(t.Context(), changed, c.rev, etcdadmin.Meta{Actor: "mallory", Reason: "more scopes"}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, pollWait, "a privileged-grant alert for globex-bi after the push", func() (bool, string) {
		for _, a := range det.engine.Alerts() {
			if a.Rule == "privileged-grant" && a.Client == "globex-bi" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", det.engine.Alerts())
	})
}

// TestCollectorRoutesAlertmanager: with detection running, the collector
// serves POST /v1/alertmanager with the tokens of --alertmanager-token-file
// and passes every other path to the OTLP collector.
func TestCollectorRoutesAlertmanager(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, det := openDetection(t, context.Background(), dir, signingKey(t), examplePolicy, nil)
	defer store.Close()
	const tok = "alertmanager-token-0123456789abcdef0123"
	h, err := det.routes(http.NotFoundHandler(), nil, []collector.SenderToken{{Name: "prom", Token: tok}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"TenantSaturated","tenant":"globex"},"fingerprint":"0123abcd"}]}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/alertmanager", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /v1/alertmanager = %v, %v; want 200", resp, err)
	}
	resp.Body.Close()
	if got := status(srv.URL+"/v1/logs", ""); got != 404 {
		t.Errorf("GET /v1/logs = %d, want the collector's handler (404 here)", got)
	}
	as, err := alert.Load(dir)
	if err != nil || len(as) != 1 || as[0].Rule != "alertmanager:TenantSaturated" || as[0].Tenant != "globex" {
		t.Errorf("alerts in the trail = %+v, %v; want the Alertmanager alert", as, err)
	}
}
