//go:build !race

// The rate tests count admitted requests per second against the load's
// schedule; under the race detector's slowdown on a 2-core machine the
// load cannot keep its schedule, so they run in make test's pass without
// -race, with the allocation guards.

package main

import (
	"context"
	"testing"
	"time"
)

// The tenant limit holds across the deployment (issue 17, "Done when"):
// three sidecars on one etcd, acme limited to 100/s (burst 100) and sent
// 250/s skewed 70/20/10 over the three: in 10 s the deployment admits
// withinPct 5% of 100/s x 10 s + the burst (each sidecar alone would admit
// 100/s of its part: 190/s). Then a sidecar leaves (its traffic moves to
// another) and one joins (it takes a fifth of the traffic): from 2 s
// after each, the deployment admits 100/s again, withinPct 5% over the next
// 4 s.
func TestGlobalTenantLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three sidecars for 25 s")
	}
	r := newRig(t, "100/s", "200/s")
	a, b, c := r.start("pod-a"), r.start("pod-b"), r.start("pod-c")
	r.waitMembers(3, a, b, c)

	const run, leave = 10 * time.Second, 4 * time.Second
	f := newLoadFlow("/v1/users/1", rigAcmeKey, 250, 40*time.Second,
		loadTarget{a.listen, 70}, loadTarget{b.listen, 20}, loadTarget{c.listen, 10})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	wg := f.run(ctx, start)

	time.Sleep(time.Until(start.Add(run)))
	// /metrics of a sidecar names its share of the busy tenant, and that
	// etcd is reachable.
	if share := rigMetric(a.admin, `portcullis_global_limit_share{tenant="acme"}`); !(share > 0.5 && share < 0.8) {
		t.Errorf("pod-a's share of acme = %v, want about 0.2/3 + 0.8 x 70%%", share)
	}
	if fb := rigMetric(a.admin, "portcullis_global_limit_fallback"); fb != 0 {
		t.Errorf("portcullis_global_limit_fallback = %v, want 0", fb)
	}
	f.route(loadTarget{a.listen, 70}, loadTarget{b.listen, 30})
	c.stop()
	left := time.Since(start)
	time.Sleep(time.Until(start.Add(left + 2*time.Second + leave)))

	d := r.start("pod-d")
	f.route(loadTarget{a.listen, 60}, loadTarget{b.listen, 20}, loadTarget{d.listen, 20})
	joined := time.Since(start)
	// The load goes on a second past the last window, as it does past the
	// others, so that the window's last second is not also the load's
	// (a CI run counted 78 admitted in it, against 97-101 in each second
	// before; the cause was not found, see the session note).
	time.Sleep(time.Until(start.Add(joined + 2*time.Second + leave + time.Second)))
	cancel()
	wg.Wait()

	if got, want := f.admitted(0, run), int64(100*10+100); !withinPct(got, want, 5) {
		t.Errorf("admitted %d in the first 10 s, want %d withinPct 5%% (per second: %v)", got, want, f.perSecond(0, run))
	}
	if failed := sumFlowBuckets(f.failed, 0, time.Minute); failed > 0 {
		t.Errorf("%d requests failed (neither 200 nor 429)", failed)
	}
	from := (left + 2*time.Second + flowBucket - 1) / flowBucket * flowBucket
	if got, want := f.admitted(from, from+leave), int64(100*leave/time.Second); !withinPct(got, want, 5) {
		t.Errorf("pod-c left at %v: admitted %d in [%v, %v), want %d withinPct 5%% (per second from the leave: %v)",
			left, got, from, from+leave, want, f.perSecond(from-2*time.Second, from+leave))
	}
	from = (joined + 2*time.Second + flowBucket - 1) / flowBucket * flowBucket
	if got, want := f.admitted(from, from+leave), int64(100*leave/time.Second); !withinPct(got, want, 5) {
		t.Errorf("pod-d joined at %v: admitted %d in [%v, %v), want %d withinPct 5%% (per second from the join: %v)",
			joined, got, from, from+leave, want, f.perSecond(from-2*time.Second, from+leave))
	}
	t.Logf("first 10 s: %d admitted of %d sent; per second %v; after the leave %v; after the join %v",
		f.admitted(0, run), sumFlowBuckets(f.sent, 0, run), f.perSecond(0, run), f.perSecond(left, left+2*time.Second+leave), f.perSecond(joined, joined+2*time.Second+leave))
}

// A noisy neighbour cannot harm another tenant (issue 17, "Done when"):
// acme floods at 20x its global limit of 20/s from all three sidecars
// while globex sends at its normal rate; every globex request succeeds,
// and acme is held to its limit across the deployment (each sidecar
// alone would admit 20/s: three times as much). Then etcd stops, and the
// sidecars report the fallback to 1/(the last member count).
func TestNoisyNeighbour(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three sidecars for 8 s")
	}
	r := newRig(t, "20/s", "100/s")
	a, b, c := r.start("pod-a"), r.start("pod-b"), r.start("pod-c")
	r.waitMembers(3, a, b, c)
	const run = 8 * time.Second
	pods := []loadTarget{{a.listen, 1}, {b.listen, 1}, {c.listen, 1}}
	flood := newLoadFlow("/v1/users/1", rigAcmeKey, 400, run+time.Second, pods...)
	normal := newLoadFlow("/v1/reports/1", rigGlobexKey, 30, run+time.Second, pods...)
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	start := time.Now()
	fw, nw := flood.run(ctx, start), normal.run(ctx, start)
	fw.Wait()
	nw.Wait()

	sent, ok := sumFlowBuckets(normal.sent, 0, run), normal.admitted(0, run)
	if sent < 100 || ok != sent {
		t.Errorf("globex: %d of %d requests succeeded, want all (and at least 100 sent)", ok, sent)
	}
	if got, want := flood.admitted(0, run), int64(20*8+20); !withinPct(got, want, 5) {
		t.Errorf("acme admitted %d of %d in 8 s, want %d withinPct 5%% (per second %v)", got, sumFlowBuckets(flood.sent, 0, run), want, flood.perSecond(0, run))
	}
	t.Logf("globex %d/%d ok, p99 %v; acme %d admitted of %d", ok, sent, normal.p99(), flood.admitted(0, run), sumFlowBuckets(flood.sent, 0, run))

	// etcd gone: the sidecars fall back to 1/3 and say so on /metrics.
	r.etcd.Close()
	for _, p := range []*rigPod{a, b, c} {
		r.waitFor(p.name+" to report the fallback", func() bool {
			return rigMetric(p.admin, "portcullis_global_limit_fallback") == 1
		})
	}
}
