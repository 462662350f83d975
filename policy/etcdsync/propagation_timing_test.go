package etcdsync_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// propagationKeys is how many keys BenchmarkRevocationPropagation revokes.
const propagationKeys = 200

// BenchmarkRevocationPropagation measures how long a revocation takes to
// reach every sidecar: three Syncers and three data-plane servers watch one
// etcd; 200 keys are revoked one at a time, and for each the time from the
// etcd write's response to the first 401 seen on every sidecar (each polled
// in a tight loop with the revoked key) is one sample. It reports p50-ms,
// p99-ms and max-ms of the samples. Each iteration revokes 200 fresh keys;
// one iteration is the measurement (-benchtime=1x).
func BenchmarkRevocationPropagation(b *testing.B) {
	b.ReportAllocs()
	d := startDeployment(b, 3)
	var samples []time.Duration
	for range b.N {
		b.StopTimer()
		keys := d.createKeys(b, "acme-hris", propagationKeys)
		b.StartTimer()
		for _, key := range keys {
			samples = append(samples, d.propagation(b, key))
		}
	}
	slices.Sort(samples)
	q := func(p float64) float64 {
		return float64(samples[min(len(samples)-1, int(p*float64(len(samples))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(samples[len(samples)-1])/float64(time.Millisecond), "max-ms")
}

// propagation checks key is accepted everywhere, revokes it and returns the
// time from the revocation's etcd response until every sidecar answered 401.
func (d *deployment) propagation(b *testing.B, key string) time.Duration {
	for _, sc := range d.sidecars {
		if got := sc.status(b, key); got != 200 {
			b.Fatalf("before revocation: status %d on %s, want 200", got, sc.addr)
		}
	}
	id, _ := policy.SplitKey([]byte(key))
	start := make(chan time.Time)
	seen := make([]time.Time, len(d.sidecars))
	var wg sync.WaitGroup
	for i, sc := range d.sidecars {
		wg.Go(func() {
			t0 := <-start
			deadline := t0.Add(30 * time.Second)
			for sc.status(b, key) != 401 {
				if time.Now().After(deadline) {
					b.Errorf("key %s not refused on %s after 30s", id, sc.addr)
					return
				}
			}
			seen[i] = time.Now()
		})
	}
	if _, err := d.admin.RevokeKey(context.Background(), string(id), meta); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for range d.sidecars {
		start <- t0
	}
	wg.Wait()
	return slices.MaxFunc(seen, func(x, y time.Time) int { return x.Compare(y) }).Sub(t0)
}
