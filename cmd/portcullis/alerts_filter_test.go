package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
)

// TestAlertsListFilters: alerts list selects by --status, --rule, --tenant
// and --since, prints a table or JSON, and refuses a status that is none
// of the alert states (issue 14).
func TestAlertsListFilters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store, det := openDetection(t, context.Background(), dir, signingKey(t), examplePolicy, nil)
	defer store.Close()
	day1 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	day2 := day1.Add(48 * time.Hour)
	appendBatch(t, store, "b1", guesses(day1, time.Second, "acmehris1", "203.0.113.9", "b1-"))
	appendBatch(t, store, "b2", guesses(day2, time.Second, "globexbi1", "198.51.100.7", "b2-"))
	acme := alertID(t, det, "token-guessing-client", "acme")
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
		if err := json.NewDecoder(strings.NewReader(list(0, append(args, "--format", "json")...))).Decode(&as); err != nil { // then stderr's note: not verified
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
