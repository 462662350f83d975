package etcdsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// heldRig is a running sidecar holding, over etcd restored from a
// backup, the suspension of acme-hris written after the backup.
type heldRig struct {
	t   *testing.T
	cli *clientv3.Client
	a   *etcdadmin.Admin
	r   *running
	key string // acme-hris's suspension record
	// reads counts the sidecar's reads of the whole state.
	reads *readsKV
}

// newHeldRig suspends acme-hris for before (none when 0), takes the
// backup, suspends it for after, restores etcd under the running sidecar
// and waits until the sidecar holds the suspension.
func newHeldRig(t *testing.T, before, after time.Duration) *heldRig {
	t.Helper()
	c := newRewindCluster(t)
	h := &heldRig{t: t, cli: c.cli, a: etcdadmin.New(c.cli, ""), key: etcdsync.Layout(etcdsync.DefaultPrefix).Suspension("acme-hris")}
	ctx := context.Background()
	push(t, h.a, examplePolicy(t))
	var scli *clientv3.Client
	scli, h.reads = readCounted(t, c.e, "")
	h.r = runSyncer(t, scli, etcdsync.SyncConfig{StateDir: t.TempDir(), Logger: zerolog.Nop(), Reconcile: 200 * time.Millisecond})
	waitFor(t, 20*time.Second, "the sidecar ready", func() bool { return h.r.Ready() })
	if before > 0 {
		if _, err := h.a.Suspend(ctx, "acme-hris", before, meta); err != nil {
			t.Fatal(err)
		}
	}
	c.snapshot()
	if _, err := h.a.Suspend(ctx, "acme-hris", after, meta); err != nil {
		t.Fatal(err)
	}
	// Past the climb, the sidecar has read the later suspension: the
	// client is suspended under the earlier one already, so waiting for it
	// to be suspended waited for nothing, and a restore under load came
	// before the later one arrived: nothing to hold (CI failed so).
	top := c.climb(20)
	waitFor(t, 20*time.Second, "the later suspension in force", func() bool { return h.suspended() && h.r.Revision() >= top })
	c.restore(func(*clientv3.Client) int64 { return 0 })
	held := func() bool { return h.r.Rewinds() == 1 && h.r.Current() && h.r.LKGHealth().HeldSusp == 1 }
	for end := time.Now().Add(30 * time.Second); !held() && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if !held() {
		t.Fatalf("no suspension held over the restore after 30s: rewinds %d, current %v, held suspensions %d, revision %d (the climb's %d)",
			h.r.Rewinds(), h.r.Current(), h.r.LKGHealth().HeldSusp, h.r.Revision(), top)
	}
	return h
}

func (h *heldRig) suspended() bool { return h.r.store.Load().Client("acme-hris").Suspended }

// afterLeaseRunsOut waits until etcd has no suspension record of the
// client (its lease ran out) and the sidecar has read past its delete,
// then fails unless the held suspension is still in force.
func (h *heldRig) afterLeaseRunsOut(why string) {
	h.t.Helper()
	ctx := context.Background()
	waitFor(h.t, 30*time.Second, "the record's lease run out", func() bool {
		resp, err := h.cli.Get(ctx, h.key)
		return err == nil && len(resp.Kvs) == 0
	})
	resp, err := h.cli.Put(ctx, etcdsync.DefaultPrefix+"/events/after", "{}")
	if err != nil {
		h.t.Fatal(err)
	}
	waitFor(h.t, 20*time.Second, "the sidecar past the lease's delete", func() bool { return h.r.Revision() >= resp.Header.Revision })
	// A full read (every 200 ms) after it, too: a sleep stood in for it,
	// which under load could pass with none, and the check below then
	// checked the watch alone.
	h.reads.applied(h.t, resp.Header.Revision)
	if !h.suspended() {
		h.t.Fatalf("the suspension held over the restore was lifted %s", why)
	}
	if held := h.r.LKGHealth().HeldSusp; held != 1 {
		h.t.Errorf("held suspensions %d, want 1", held)
	}
}

// TestRestoredOlderSuspensionKeepsHeld: a client suspended for a few
// seconds, the backup taken, then its suspension extended to an hour
// (an incident growing), and etcd restored. The restored etcd holds the
// client's old, short suspension, whose lease the restore restarted;
// it ended the hold of the hour's suspension, so the client was served
// again once that lease ran out. The held suspension stays in force.
func TestRestoredOlderSuspensionKeepsHeld(t *testing.T) {
	t.Parallel()
	h := newHeldRig(t, 10*time.Second, time.Hour)
	if g, err := h.cli.Get(context.Background(), h.key); err != nil || len(g.Kvs) == 0 {
		t.Fatalf("the restored etcd lacks the short suspension (%v): the test proves nothing", err)
	}
	h.afterLeaseRunsOut("when the restored backup's older, shorter suspension of the client lapsed")
}

// TestRestoredOlderSuspensionPutBackKeepsHeld: the hour's suspension held
// over a restore whose backup had the client's older, shorter one, and
// that older record then put back as it was (a dump replayed), on a
// lease of its own. The re-read after a restore keeps the hold over such
// a record (supersedes), but a put seen on the watch ended any hold of
// its client: the client was served again once the put-back record's
// lease ran out, the hour notwithstanding. The watch keeps the hold as
// the re-read does.
func TestRestoredOlderSuspensionPutBackKeepsHeld(t *testing.T) {
	t.Parallel()
	h := newHeldRig(t, time.Hour, 2*time.Hour)
	ctx := context.Background()
	old, err := h.cli.Get(ctx, h.key)
	if err != nil || len(old.Kvs) == 0 {
		t.Fatalf("the restored etcd lacks the hour's suspension (%v): the test proves nothing", err)
	}
	// The older record put back as it was, on a lease of 2 s.
	lease, err := h.cli.Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.cli.Put(ctx, h.key, string(old.Kvs[0].Value), clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	h.afterLeaseRunsOut("when the older, shorter record was put back and its lease ran out")
}

// TestContainmentKeepsHeldSuspension: a client suspended for an hour
// after the backup, etcd restored (the sidecar holds the suspension), and
// then an alert's rule contains the client again for a few seconds
// (SuspendAtLeast, which never shortens a suspension in force). Its
// record, newer than the held one, ended the hold, so the client was
// served once its lease ran out, most of the hour early. The held
// suspension stays in force.
func TestContainmentKeepsHeldSuspension(t *testing.T) {
	t.Parallel()
	h := newHeldRig(t, 0, time.Hour)
	s, err := h.a.SuspendAtLeast(context.Background(), "acme-hris", 3*time.Second, meta)
	if err != nil {
		t.Fatal(err)
	}
	if !s.AtLeast {
		t.Fatalf("the containment's suspension %+v is not marked at_least", s)
	}
	h.afterLeaseRunsOut("by a containment's shorter suspension, once its lease ran out")
}
