package etcdsync_test

import (
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// stalePolicy is the example policy with a one-minute staleness bound
// that denies.
func stalePolicy(t testing.TB) []byte {
	return append(examplePolicy(t), "\nstaleness: {max_age: 1m, action: deny}\n"...)
}

// metricValue returns the value of the Syncer's metric name.
func metricValue(t testing.TB, s *etcdsync.Syncer, name string) float64 {
	t.Helper()
	for _, m := range s.Metrics() {
		if m.Name == name {
			return m.Value()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// Finding (review72): staleness.max_age is enforced on the wall clock and
// on the monotonic clock (either past the bound denies), but
// portcullis_policy_staleness_seconds took the wall clock alone: a wall
// clock stepped back an hour after etcd's last confirmation, ten minutes
// ago, made it read 0 while every credentialed request was refused as
// stale, and /readyz said nothing of it. Both now take the age the bound
// is enforced on. The real clock cannot be stepped in a test: the
// Syncer's wall clock (SyncConfig.Now) is.
func TestStalenessMetricAfterWallClockStepsBack(t *testing.T) {
	t.Parallel()
	e := ownEtcd(t)
	cli := dial(t, e)
	rev := push(t, etcdadmin.New(cli, ""), stalePolicy(t))
	var step atomic.Int64
	r := runSyncer(t, cli, etcdsync.SyncConfig{Now: func() time.Time { return time.Now().Add(-time.Duration(step.Load())) }})
	r.atRevision(t, rev)
	e.Stop() // nothing confirms the policy after this
	r.store.Heard(time.Now().Add(-10 * time.Minute).UnixNano())
	step.Store(int64(time.Hour)) // the wall clock stepped back an hour

	got := metricValue(t, r.Syncer, "portcullis_policy_staleness_seconds")
	if got < 600 {
		t.Errorf("etcd last heard 10m ago, wall clock stepped back 1h since: portcullis_policy_staleness_seconds %v, want at least 600", got)
	}
	if c := r.Confirmation(); !strings.Contains(c, "past staleness.max_age 1m0s: credentialed requests answer 503 policy_stale") {
		t.Errorf("/readyz's confirmation %q does not say the policy is past its bound", c)
	}
}

// Finding (review72): a last-known-good file whose confirmation time lies
// ahead of the clock (saved before the wall clock was stepped back) was
// taken as it was: etcd counted as heard in the future, on both clocks,
// so staleness.max_age began only after the step had passed and the
// staleness metric read 0. Such a confirmation is of unknown age and
// counts as none: stale at once, the metric +Inf.
func TestLastKnownGoodFromTheFutureIsStale(t *testing.T) {
	t.Parallel()
	e := ownEtcd(t)
	cli := dial(t, e)
	rev := push(t, etcdadmin.New(cli, ""), stalePolicy(t))
	dir := t.TempDir()
	first := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir})
	first.atRevision(t, rev)
	waitFor(t, 10*time.Second, "the last-known-good file saved", func() bool { return first.LKGHealth().Revision >= rev })
	first.stop()
	st, err := etcdsync.ReadLKGState(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Saved an hour ahead of the clock now: the clock was stepped back.
	if err := etcdsync.WriteLKG(dir, st, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	e.Stop()

	r := runSyncer(t, cli, etcdsync.SyncConfig{StateDir: dir, StartWait: 200 * time.Millisecond})
	waitFor(t, 10*time.Second, "the last-known-good file served", r.Ready)
	if d, ok := r.Staleness(); ok || r.store.HeardAt() != 0 {
		t.Errorf("started on a last-known-good file confirmed an hour ahead of the clock: etcd heard at %s, staleness %v (confirmed %v); want no confirmation",
			time.Unix(0, r.store.HeardAt()).UTC().Format(time.RFC3339), d, ok)
	}
	if got := metricValue(t, r.Syncer, "portcullis_policy_staleness_seconds"); !math.IsInf(got, 1) {
		t.Errorf("portcullis_policy_staleness_seconds %v, want +Inf", got)
	}
	if c := r.Confirmation(); !strings.Contains(c, "counted stale") {
		t.Errorf("/readyz's confirmation %q does not say the policy counts as stale", c)
	}
}
