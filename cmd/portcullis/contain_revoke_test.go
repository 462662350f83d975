package main

import (
	"bytes"
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
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestRuleActionRevokesKeyThroughEtcd: with the guessing rule's action set
// to revoke_key, the alert revokes the key the guesses used through etcd,
// the collector's follower stores key.revoke with a reason naming the
// alert, then alert.contain, and the alert is contained (issue 14,
// containment: revoke the key that was used).
func TestRuleActionRevokesKeyThroughEtcd(t *testing.T) {
	t.Parallel()
	e, err := devetcd.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	admin := etcdadmin.New(cli, "/revoke-test")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	doc, _ := os.ReadFile(examplePolicy)
	edited := bytes.Replace(doc, []byte("action: suspend, suspend: 15m"), []byte("action: revoke_key"), 1)
	if bytes.Equal(edited, doc) {
		t.Fatal("the example policy's guessing rule no longer suspends; update the test")
	}
	if _, err := admin.PushPolicy(ctx, edited, 0, etcdadmin.Meta{Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	var det detection
	store, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key, Detection: det.hooks()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := zerolog.Nop()
	if err := det.start(ctx, "", admin, dir, store, &log); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		collector.ForwardEvents(ctx, admin, store, dir+"/events.rev", zerolog.Nop())
	}()
	defer func() { cancel(); <-done }()
	now := time.Now().UTC()
	var recs []collector.StoredRecord
	for i := range 25 {
		recs = append(recs, collector.StoredRecord{Time: now.Add(time.Duration(i) * time.Millisecond), Method: "GET", Route: "/v1/users",
			Status: 401, Decision: "unauthenticated", KeyID: "acmehris1", SourceIP: "203.0.113.9", RequestID: fmt.Sprintf("r%d", i)})
	}
	if err := store.AppendBatch(&collector.Batch{ID: "b1", Sender: "token:a", Records: recs}); err != nil {
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
	pollUntil(t, pollWait, "alert "+id+" contained", func() (bool, string) {
		a, _ := det.engine.Alert(id)
		return a.Status == alert.StatusContained, fmt.Sprintf("%+v", a)
	})
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
}
