package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
)

// TestRuleActionRevokesKeyThroughEtcd: with the tenant-probe rule's action
// set to revoke_key, the alert revokes the key the probes used through etcd,
// the collector's follower stores key.revoke with a reason naming the
// alert, then alert.contain, and the alert is contained (issue 14,
// containment: revoke the key that was used).
func TestRuleActionRevokesKeyThroughEtcd(t *testing.T) {
	t.Parallel()
	doc, _ := os.ReadFile(examplePolicy)
	edited := bytes.Replace(doc, []byte("action: suspend, suspend: 15m"), []byte("action: revoke_key"), 1)
	if bytes.Equal(edited, doc) {
		t.Fatal("the example policy's tenant-probe rule no longer suspends; update the test")
	}
	c := startEtcdCollector(t, "/revoke-test", edited)
	admin, dir, ctx := c.admin, c.dir, t.Context()
	id := c.containProbing(t)
	k, err := admin.ShowKey(ctx, "acmehris1")
	if err != nil || !k.IsRevoked() {
		t.Errorf("key acmehris1 = %+v, %v; want revoked", k, err)
	}
	pollUntil(t, pollWait, "key.revoke naming the alert in the trail", func() (bool, string) {
		var linked bool
		err := collector.QueryEvents(dir, time.Time{}, time.Time{}, func(ev *collector.Event) error {
			linked = linked || ev.Action == "key.revoke" && ev.Target == "acmehris1" && strings.Contains(ev.Reason, id)
			return nil
		})
		return linked, fmt.Sprint(err)
	})
	if sus, _ := admin.Suspensions(ctx); len(sus) != 0 {
		t.Errorf("suspensions %+v, want none (the rule revokes)", sus)
	}

	// The report's proof that a sidecar enforced the revocation is a
	// key_revoked record of the key (pod-b). pod-a only refused a wrong
	// secret under the key's id, which it would refuse revoked or not,
	// and which anyone can send: before, that was its "first denial".
	after := time.Now().UTC().Add(time.Second)
	for i, d := range []struct{ pod, decision string }{{"pod-a", "unauthenticated"}, {"pod-b", "key_revoked"}} {
		rec := collector.StoredRecord{Time: after.Add(time.Duration(i) * time.Millisecond), KeyID: "acmehris1", Method: "GET", Route: "/v1/users",
			Status: 401, Decision: d.decision, SourceIP: "10.1.2.3", RequestID: "denied-" + d.pod}
		if err := c.store.AppendBatch(&collector.Batch{ID: "d" + d.pod, Sender: "token:fleet", Instance: d.pod, Records: []collector.StoredRecord{rec}}); err != nil {
			t.Fatal(err)
		}
	}
	var out, errOut bytes.Buffer
	if code := incidentReport([]string{id, "--data", dir, "--format", "json"}, &out, &errOut); code != 0 {
		t.Fatalf("incident report = %d: %s", code, &errOut)
	}
	var rep alert.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Enforcement) != 1 || rep.Enforcement[0].Pod != "pod-b" ||
		rep.Enforcement[0].Decision != "key_revoked" {
		t.Errorf("incident report enforcement = %+v (%v), want pod-b's key_revoked only", rep.Enforcement, err)
	}
}
