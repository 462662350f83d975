package main

import (
	"context"
	"testing"
	"time"
)

// BenchmarkGlobalLimit runs TestGlobalTenantLimit's first phase, 10 s
// (three sidecars, acme 100/s burst 100, 250/s skewed 70/20/10), and
// reports how far the deployment's admissions are from 100/s x 10 s + the
// burst, in percent, and the demand records each sidecar wrote to etcd
// per second. One run is one deployment; b.N is not used.
func BenchmarkGlobalLimit(b *testing.B) {
	r := newRig(b, "100/s", "200/s")
	pods := []*rigPod{r.start("pod-a"), r.start("pod-b"), r.start("pod-c")}
	r.waitMembers(3, pods...)
	writes := func() (n float64) {
		for _, p := range pods {
			n += rigMetric(p.admin, "portcullis_global_demand_writes_total")
		}
		return n
	}
	const run = 10 * time.Second
	f := newLoadFlow("/v1/users/1", rigAcmeKey, 250, run+time.Second,
		loadTarget{pods[0].listen, 70}, loadTarget{pods[1].listen, 20}, loadTarget{pods[2].listen, 10})
	before := writes()
	b.ResetTimer()
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	f.run(ctx, time.Now()).Wait()
	b.StopTimer()
	want := float64(100*10 + 100)
	b.ReportMetric(100*(float64(f.admitted(0, run))-want)/want, "error-%")
	b.ReportMetric((writes()-before)/run.Seconds()/float64(len(pods)), "etcd-writes/s/sidecar")
}

// BenchmarkNoisyNeighbour measures globex's p99 latency through the
// sidecars at its normal rate (30/s over three sidecars), first alone,
// then while acme floods at 20x its global limit of 20/s from all three,
// and reports both and the rise in milliseconds (and the rise of the
// median), with globex's success rate. The latency is the client's, from
// send to the end of the answer; on a shared machine the load generator,
// the three sidecars and the upstream compete for the same CPUs, so the
// flood's own CPU cost shows in it. A first quiet phase, not measured, opens the connections. One
// run is one deployment; b.N is not used.
func BenchmarkNoisyNeighbour(b *testing.B) {
	r := newRig(b, "20/s", "100/s")
	a, p, c := r.start("pod-a"), r.start("pod-b"), r.start("pod-c")
	r.waitMembers(3, a, p, c)
	pods := []loadTarget{{a.listen, 1}, {p.listen, 1}, {c.listen, 1}}
	const run = 5 * time.Second
	phase := func(flood bool) *loadFlow {
		normal := newLoadFlow("/v1/reports/1", rigGlobexKey, 30, run+time.Second, pods...)
		ctx, cancel := context.WithTimeout(context.Background(), run)
		defer cancel()
		start := time.Now()
		if flood {
			defer newLoadFlow("/v1/users/1", rigAcmeKey, 400, run+time.Second, pods...).run(ctx, start).Wait()
		}
		normal.run(ctx, start).Wait()
		return normal
	}
	phase(false) // warm: connections open, caches filled
	b.ResetTimer()
	quiet, noisy := phase(false), phase(true)
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(quiet.p99()), "p99-quiet-ms")
	b.ReportMetric(ms(noisy.p99()), "p99-flood-ms")
	b.ReportMetric(ms(noisy.p99()-quiet.p99()), "p99-rise-ms")
	b.ReportMetric(ms(noisy.quantile(50)-quiet.quantile(50)), "p50-rise-ms")
	sent := sumFlowBuckets(noisy.sent, 0, run)
	b.ReportMetric(100*float64(noisy.admitted(0, run))/float64(max(sent, 1)), "success-%")
}
