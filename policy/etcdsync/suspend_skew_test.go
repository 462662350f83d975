package etcdsync_test

import (
	"context"
	"testing"
	"time"
)

// A suspension is in force while its record is in etcd: its lease lifts
// it. The sidecars also dropped a record whose until had passed by their
// own clock, so a suspension written from a host whose clock is behind
// theirs (an operator's machine, the collector's containment) by more
// than its length never took effect anywhere, while `clients list`
// showed the client suspended.
func TestSuspensionFromSlowClockHolds(t *testing.T) {
	d := startDeployment(t, 1)
	sc := d.sidecars[0]
	keys := d.createKeys(t, "acme-bi", 1)
	slow := d.admin.WithClock(func() time.Time { return time.Now().Add(-time.Hour) })
	if _, err := slow.Suspend(context.Background(), "acme-bi", 10*time.Minute, meta); err != nil {
		t.Fatal(err)
	}
	resp, err := d.cli.Get(context.Background(), d.admin.Prefix()+"/suspensions/acme-bi")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("suspension record: %v, %v", resp, err)
	}
	d.await(t, resp.Kvs[0].ModRevision)
	if got := sc.status(t, keys[0]); got != 401 && got != 403 {
		t.Errorf("client suspended in etcd (its lease lives 10 minutes): status %d, want 401 or 403", got)
	}
}
