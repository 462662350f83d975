package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestRuleActionRevokesKeyThroughEtcd: with the guessing rule's action set
// to revoke_key, the alert revokes the key the guesses used through etcd,
// the collector's follower stores key.revoke with a reason naming the
// alert, then alert.contain, and the alert is contained (issue 14,
// containment: revoke the key that was used).
func TestRuleActionRevokesKeyThroughEtcd(t *testing.T) {
	t.Parallel()
	doc, _ := os.ReadFile(examplePolicy)
	edited := bytes.Replace(doc, []byte("action: suspend, suspend: 15m"), []byte("action: revoke_key"), 1)
	if bytes.Equal(edited, doc) {
		t.Fatal("the example policy's guessing rule no longer suspends; update the test")
	}
	c := startEtcdCollector(t, "/revoke-test", edited)
	admin, dir, ctx := c.admin, c.dir, t.Context()
	id := c.containGuessing(t)
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
