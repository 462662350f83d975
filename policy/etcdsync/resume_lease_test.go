package etcdsync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// resumeSidecar is a Syncer driven by Install (reads whole only, as a
// sidecar restarted or whose watch resumed past a compaction sees etcd).
type resumeSidecar struct {
	t     *testing.T
	c     *rewindCluster
	s     *etcdsync.Syncer
	store *policy.Store
	logs  *logBuffer
}

func newResumeSidecar(t *testing.T, c *rewindCluster) *resumeSidecar {
	logs := &logBuffer{}
	store := &policy.Store{}
	return &resumeSidecar{t: t, c: c, store: store, logs: logs,
		s: etcdsync.NewSyncer(c.cli, store, etcdsync.SyncConfig{Logger: zerolog.New(logs)})}
}

func (r *resumeSidecar) read() {
	r.t.Helper()
	r.s.Install(readWhole(r.t, r.c.cli, etcdsync.Layout(etcdsync.DefaultPrefix)))
}

func (r *resumeSidecar) suspended() bool { return r.store.Load().Client("acme-hris").Suspended }

// suspendedAndRead suspends acme-hris for an hour on a new cluster and
// returns a resumeSidecar that has read it.
func suspendedAndRead(t *testing.T) (*rewindCluster, *etcdadmin.Admin, *resumeSidecar) {
	t.Helper()
	c, a := newPushedCluster(t)
	if _, err := a.Suspend(context.Background(), "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	r := newResumeSidecar(t, c)
	r.read()
	return c, a, r
}

// TestHeldSuspensionLiftedBySuspendAndResume: a suspension held on a
// sidecar (etcd lost it: here deleted by hand) is lifted, as the error
// line and the README say, by suspending the client again and resuming
// it. A sidecar that saw neither write on its watch (restarted, or its
// watch resumed past a compaction) kept the held suspension over the
// resumption of the later suspension etcd holds: holdLostSuspensions
// asked etcd only about suspensions it was about to hold, never about
// one held already, and the resumed client stayed refused until the
// held one's until.
func TestHeldSuspensionLiftedBySuspendAndResume(t *testing.T) {
	t.Parallel()
	c, a, r := suspendedAndRead(t)
	ctx := context.Background()
	if _, err := c.cli.Delete(ctx, etcdsync.Layout(etcdsync.DefaultPrefix).Suspension("acme-hris")); err != nil {
		t.Fatal(err)
	}
	r.read()
	if h := r.s.LKGHealth().HeldSusp; h != 1 || !r.suspended() {
		t.Fatalf("suspension gone by hand: held %d, suspended %v; want it held\n%s", h, r.suspended(), r.logs)
	}
	// The remedy: suspend again, then resume; the sidecar reads whole.
	if _, err := a.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	if err := a.Resume(ctx, "acme-hris", meta); err != nil {
		t.Fatal(err)
	}
	r.read()
	if h := r.s.LKGHealth().HeldSusp; h != 0 || r.suspended() {
		t.Fatalf("suspended again and resumed: held %d, suspended %v; want the client served\n%s", h, r.suspended(), r.logs)
	}
}

// suspensionLease returns the lease of acme-hris's suspension in etcd.
func suspensionLease(t *testing.T, cli *clientv3.Client) clientv3.LeaseID {
	t.Helper()
	resp, err := cli.Get(context.Background(), etcdsync.Layout(etcdsync.DefaultPrefix).Suspension("acme-hris"))
	if err != nil || len(resp.Kvs) == 0 {
		t.Fatalf("no suspension of acme-hris in etcd: %v", err)
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}

// waitLeaseGone waits until lease has expired in etcd.
func waitLeaseGone(t *testing.T, cli *clientv3.Client, lease clientv3.LeaseID) {
	t.Helper()
	waitFor(t, 30*time.Second, "the short suspension's lease expired", func() bool {
		resp, err := cli.TimeToLive(context.Background(), lease)
		return err == nil && resp.TTL == -1
	})
}

// TestEarlierResumptionOutlivesLaterShorterOne: a client suspended for an
// hour and resumed, then suspended for seconds and resumed again. The
// second resumption replaced the first at resumed/<client> on the short
// suspension's lease, so once that lease ran out etcd held no resumption
// of the hour's suspension: a sidecar that last applied it (restarted
// after both resumptions) held the resumed client refused for the hour.
func TestEarlierResumptionOutlivesLaterShorterOne(t *testing.T) {
	t.Parallel()
	c, a, r := suspendedAndRead(t)
	ctx := context.Background()
	if err := a.Resume(ctx, "acme-hris", meta); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Suspend(ctx, "acme-hris", 2*time.Second, meta); err != nil {
		t.Fatal(err)
	}
	short := suspensionLease(t, c.cli)
	if err := a.Resume(ctx, "acme-hris", meta); err != nil {
		t.Fatal(err)
	}
	waitLeaseGone(t, c.cli, short)
	r.read()
	if h := r.s.LKGHealth().HeldSusp; h != 0 || r.suspended() {
		t.Fatalf("resumed, suspended for seconds and resumed again: held %d, suspended %v; want the client served\n%s", h, r.suspended(), r.logs)
	}
}

// TestShortenedSuspensionNotHeld: a client's suspension of an hour
// replaced by one of seconds (clients suspend again, shorter: Suspend
// replaces), which ran out. A sidecar that last applied the hour's
// suspension and read etcd whole after (restarted) found it gone before
// its until with no resumption, and held the client refused for the
// hour, logging etcd gone back.
func TestShortenedSuspensionNotHeld(t *testing.T) {
	t.Parallel()
	c, a, r := suspendedAndRead(t)
	ctx := context.Background()
	if _, err := a.Suspend(ctx, "acme-hris", 2*time.Second, meta); err != nil {
		t.Fatal(err)
	}
	waitLeaseGone(t, c.cli, suspensionLease(t, c.cli))
	r.read()
	if h := r.s.LKGHealth().HeldSusp; h != 0 || r.suspended() {
		t.Fatalf("suspension shortened, then run out: held %d, suspended %v; want the client served\n%s", h, r.suspended(), r.logs)
	}
}

// TestRestoredOlderSuspensionCompactedPastKeepsHeld: a read whole that
// finds, where the sidecar applied a client's hour-long suspension, an
// older, shorter suspension of the client (a restored backup's, compacted
// past the witnesses so that no fork is found: here put by hand) took
// that record for the client's suspension and held nothing, so the
// client was served once its lease ran out, most of the hour early. It
// is held as a rewind holds it (supersedes).
func TestRestoredOlderSuspensionCompactedPastKeepsHeld(t *testing.T) {
	t.Parallel()
	c, _, r := suspendedAndRead(t)
	ctx := context.Background()
	key := etcdsync.Layout(etcdsync.DefaultPrefix).Suspension("acme-hris")
	now := time.Now().UTC()
	older := fmt.Sprintf(`{"client":"acme-hris","actor":"t","reason":"r","time":%q,"until":%q}`,
		now.Add(-2*time.Hour).Format(time.RFC3339Nano), now.Add(time.Minute).Format(time.RFC3339Nano))
	if _, err := c.cli.Put(ctx, key, older); err != nil {
		t.Fatal(err)
	}
	r.read()
	if h := r.s.LKGHealth().HeldSusp; h != 1 || !r.suspended() {
		t.Fatalf("a read whole finding the client's older, shorter suspension: held %d, suspended %v; want the hour's held\n%s", h, r.suspended(), r.logs)
	}
}
