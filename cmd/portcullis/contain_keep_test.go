package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestRuleActionKeepsLongerSuspension: an operator suspended acme-hris for
// a day (its key was stolen). Whoever holds the key id sends 25 wrong
// secrets; the rule action (suspend: 15m) contains the alert, but must not
// replace the day with 15 minutes: the stolen key would work again in a
// quarter of an hour. The day's suspension stays, and the alert is
// contained (the client is suspended for longer than the rule asks).
func TestRuleActionKeepsLongerSuspension(t *testing.T) {
	t.Parallel()
	doc, _ := os.ReadFile(examplePolicy)
	c := startEtcdCollector(t, "/contain-keep-test", doc)
	ctx := t.Context()
	if _, err := c.admin.Suspend(ctx, "acme-hris", 24*time.Hour, etcdadmin.Meta{Actor: "alice", Reason: "key stolen", Ticket: "INC-1"}); err != nil {
		t.Fatal(err)
	}
	id := c.containProbing(t)
	sus, err := c.admin.Suspensions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := sus["acme-hris"]
	if left := time.Until(s.Until); left < 23*time.Hour || s.Actor != "alice" {
		t.Errorf("suspension after alert %s = %+v (%s left), want alice's day kept", id, s, left.Round(time.Minute))
	}
	// A suspension shorter than the rule's is lengthened to it.
	if _, err := c.admin.Suspend(ctx, "globex-bi", time.Minute, etcdadmin.Meta{Actor: "alice", Reason: "look", Ticket: "INC-2"}); err != nil {
		t.Fatal(err)
	}
	s2, err := c.admin.SuspendAtLeast(ctx, "globex-bi", 15*time.Minute, etcdadmin.Meta{Actor: "portcullis-collector", Reason: "alert x"})
	if err != nil || time.Until(s2.Until) < 14*time.Minute || !strings.Contains(s2.Reason, "alert x") {
		t.Errorf("SuspendAtLeast over a 1m suspension = %+v, %v; want 15m naming alert x", s2, err)
	}
}
