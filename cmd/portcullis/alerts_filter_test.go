package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
)

// TestAlertsListFilters: alerts list selects by --status, --rule, --tenant
// and --since, prints a table or JSON, and refuses a status that is none
// of the alert states (issue 14).
func TestAlertsListFilters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var det detection
	store, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key, Detection: det.hooks()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := zerolog.Nop()
	if err := det.start(context.Background(), examplePolicy, nil, dir, store, &log); err != nil {
		t.Fatal(err)
	}
	day1 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	day2 := day1.Add(48 * time.Hour)
	burst := func(id string, at time.Time, keyID, ip string) {
		t.Helper()
		var recs []collector.StoredRecord
		for i := range 25 {
			recs = append(recs, collector.StoredRecord{Time: at.Add(time.Duration(i) * time.Second), Method: "GET", Route: "/v1/users",
				Status: 401, Decision: "unauthenticated", KeyID: keyID, SourceIP: ip, RequestID: fmt.Sprintf("%s-%d", id, i)})
		}
		if err := store.AppendBatch(&collector.Batch{ID: id, Sender: "token:a", Records: recs}); err != nil {
			t.Fatal(err)
		}
	}
	burst("b1", day1, "acmehris1", "203.0.113.9")
	burst("b2", day2, "globexbi1", "198.51.100.7")
	var acme string
	for _, a := range det.engine.Alerts() {
		if a.Tenant == "acme" && a.Rule == "token-guessing-client" {
			acme = a.ID
		}
	}
	if acme == "" {
		t.Fatalf("no acme alert in %+v", det.engine.Alerts())
	}
	closing, _ := json.Marshal(map[string]string{"corrective_action": "rotated"})
	if err := store.AppendEvents([]collector.Event{{Time: day1.Add(time.Hour), Key: "/e/close", Revision: 3, Actor: "alice",
		Action: alert.ActionClose, Target: acme, Reason: "done", Details: closing}}); err != nil {
		t.Fatal(err)
	}
	list := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if got := alertsList(append(args, "--data", dir), &out, &errOut); got != want {
			t.Fatalf("alerts list %v = %d, want %d: %s", args, got, want, &errOut)
		}
		return out.String() + errOut.String()
	}
	ids := func(args ...string) []string {
		t.Helper()
		var as []alert.Alert
		if err := json.Unmarshal([]byte(list(0, append(args, "--format", "json")...)), &as); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range as {
			out = append(out, a.Tenant+"/"+a.Rule+"/"+a.Status)
		}
		return out
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--status", "closed"}, "acme/token-guessing-client/closed"},
		{[]string{"--tenant", "globex", "--rule", "token-guessing-client"}, "globex/token-guessing-client/open"},
		{[]string{"--since", day2.Format(time.RFC3339), "--rule", "token-guessing-client"}, "globex/token-guessing-client/open"},
		{[]string{"--status", "acknowledged"}, ""},
	} {
		if got := strings.Join(ids(c.args...), " "); got != c.want {
			t.Errorf("alerts list %v = %q, want %q", c.args, got, c.want)
		}
	}
	if out := list(0, "--tenant", "acme", "--rule", "token-guessing-client"); !strings.Contains(out, acme) || !strings.Contains(out, "STATUS") || !strings.Contains(out, "closed") {
		t.Errorf("alerts list table:\n%s\nwant a header and %s closed", out, acme)
	}
	if out := list(2, "--status", "shut"); !strings.Contains(out, "--status shut") {
		t.Errorf("alerts list --status shut: %s, want the flag named", out)
	}
}
