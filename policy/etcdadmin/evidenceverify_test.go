package etcdadmin

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The follower flagged every review.sign and evidence.approve event, and
// every alert.* lifecycle event, "unknown action" (unverified): they record no change to find in their
// transaction, so the trail could not tell a sign-off as written from one
// whose key was rewritten after. They are now verified when written once,
// and a rewritten one is still flagged.
func TestFollowEventsVerifiesReviewAndApprovalEvents(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t))
	ctx := context.Background()
	if _, err := a.RecordEvidenceEvent(ctx, "review.sign", "access-2026-Q2", meta, map[string]string{"decision": "approved"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RecordEvidenceEvent(ctx, ActionEvidenceApprove, "APIAuth-TokenLifecycleLog-2026-Q2.csv", meta, map[string]string{"status": "Approved"}); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"alert.ack", "alert.contain", "alert.close"} {
		if _, err := a.RecordAlertEvent(ctx, action, "alert-7f3a", meta, map[string]string{"rule": "bulk_export_burst"}); err != nil {
			t.Fatal(action, err)
		}
	}
	keys, err := a.cli.Get(ctx, a.k.EventsDir(), clientv3.WithPrefix())
	if err != nil || len(keys.Kvs) != 5 {
		t.Fatalf("events under %s: %v", a.k.EventsDir(), err)
	}
	rewritten := string(keys.Kvs[0].Key)
	put, err := a.cli.Put(ctx, rewritten, `{"time":"2026-07-03T10:00:00Z","actor":"rita","action":"review.sign","target":"access-2026-Q2","details":{"decision":"approved"}}`)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []Event
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- a.FollowEvents(fctx, 0, func(b []Event) error { mu.Lock(); got = append(got, b...); mu.Unlock(); return nil })
	}()
	waitFor(t, 10*time.Second, "the five events and the rewrite", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 6 })
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("FollowEvents = %v", err)
	}
	// The rewrite's revision is its own answer's: other tests write to
	// the shared etcd meanwhile.
	for _, ev := range got {
		if want := ev.Key == rewritten && ev.Revision == put.Header.Revision; (ev.Unverified != "") != want {
			t.Errorf("%s %s: unverified %q, want flagged %t", ev.Action, ev.Key, ev.Unverified, want)
		}
	}
}
