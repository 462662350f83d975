package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestRuleActionSuspendsThroughEtcd: a guessing burst stored by the
// collector opens the token-guessing-client alert, whose rule action
// suspends the client through etcd with a reason naming the alert; the
// collector's follower stores client.suspend and alert.contain in the
// trail and the alert is contained.
func TestRuleActionSuspendsThroughEtcd(t *testing.T) {
	t.Parallel()
	e, err := etcdsync.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	admin := etcdsync.NewAdmin(cli, "/contain-test")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	doc, _ := os.ReadFile(examplePolicy)
	if _, err := admin.PushPolicy(ctx, doc, 0, etcdsync.Meta{Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var det detection
	store, err := audit.OpenStore(dir, audit.StoreConfig{SigningKey: key, OnStored: det.observe})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := zerolog.Nop()
	if err := det.start(ctx, "", admin, dir, store, &log); err != nil { // the rules from the policy in etcd
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); forwardEvents(ctx, admin, store, dir+"/events.rev", zerolog.Nop()) }()
	defer func() { cancel(); <-done }()

	now := time.Now().UTC()
	var recs []audit.StoredRecord
	for i := range 25 {
		recs = append(recs, audit.StoredRecord{Time: now.Add(time.Duration(i) * time.Millisecond), Method: "GET", Route: "/v1/users",
			Status: 401, Decision: "unauthenticated", KeyID: "acmehris1", SourceIP: "203.0.113.9", RequestID: fmt.Sprintf("r%d", i)})
	}
	if err := store.AppendBatch(&audit.Batch{ID: "b1", Sender: "token:a", Records: recs}); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, a := range det.engine.Alerts() {
		if a.Rule == "token-guessing-client" {
			id = a.ID
		}
	}
	if id == "" {
		t.Fatalf("no token-guessing-client alert: %+v", det.engine.Alerts())
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		a, _ := det.engine.Alert(id)
		if a.Status == alert.StatusContained {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alert %s not contained after 60s: %+v", id, a)
		}
		time.Sleep(20 * time.Millisecond)
	}
	sus, err := admin.Suspensions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := sus["acme-hris"]
	if !ok || !strings.Contains(s.Reason, id) || s.Actor != "portcullis-collector" || s.Until.Sub(s.Time) != 15*time.Minute {
		t.Errorf("suspension = %+v (found %v), want acme-hris for 15m by portcullis-collector, reason naming %s", s, ok, id)
	}
	var linked bool
	audit.QueryEvents(dir, time.Time{}, time.Time{}, func(ev *audit.Event) error {
		linked = linked || ev.Action == "client.suspend" && ev.Target == "acme-hris" && strings.Contains(ev.Reason, id)
		return nil
	})
	if !linked {
		t.Error("the trail holds no client.suspend whose reason names the alert")
	}
}
