package evidence

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// benchStoreVersion names the generated store's layout; change it when
// the generator changes so a cached store is rebuilt.
const benchStoreVersion = "v2"

// benchRecords is how many records BenchmarkPack stores: 200,000 by
// default, so that `make check`'s one pass stays short; issue 15's goal
// is measured with PORTCULLIS_EVIDENCE_BENCH_RECORDS=10000000.
func benchRecords(b *testing.B) int {
	s := os.Getenv("PORTCULLIS_EVIDENCE_BENCH_RECORDS")
	if s == "" {
		return 200_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1000 {
		b.Fatalf("PORTCULLIS_EVIDENCE_BENCH_RECORDS=%q: want a number of records of at least 1000", s)
	}
	return n
}

// benchStore returns a store of n generated records over 2026-Q2 and its
// key, generating it on the first run into the system's temporary folder
// (kept between runs, keyed by version and size: 10M records take about
// 4 GB and a few minutes to write).
func benchStore(b *testing.B, n int) (string, ed25519.PrivateKey) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("portcullis-evidence-bench-%s-%d", benchStoreVersion, n))
	keyPath := filepath.Join(dir, "collector.key")
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		key, err := collector.LoadPrivateKey(keyPath)
		if err != nil {
			b.Fatal(err)
		}
		return filepath.Join(dir, "data"), key
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := collector.GenerateKey(keyPath); err != nil {
		b.Fatal(err)
	}
	key, err := collector.LoadPrivateKey(keyPath)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	generateStore(b, filepath.Join(dir, "data"), key, n)
	b.Logf("generated %d records in %s into %s", n, time.Since(start).Round(time.Second), dir)
	if err := os.WriteFile(filepath.Join(dir, "complete"), nil, 0o600); err != nil {
		b.Fatal(err)
	}
	return filepath.Join(dir, "data"), key
}

// generateStore writes n records in batches of 5,000 from four sidecars,
// spread evenly over 2026-Q2: 40 tenants (the first holds a third of the
// traffic), 200 integrations, 90% allowed, the rest 401, 403, 413 and 429;
// and one key revocation a day with its denials.
func generateStore(b *testing.B, dir string, key ed25519.PrivateKey, n int) {
	from := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	step := 91 * 24 * time.Hour / time.Duration(n)
	var clock atomic.Int64
	clock.Store(from.UnixNano())
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key, Retention: 400 * 24 * time.Hour,
		Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() }})
	if err != nil {
		b.Fatal(err)
	}
	const per = 5000
	recs := make([]collector.StoredRecord, per)
	for i := 0; i < n; i += per {
		m := min(per, n-i)
		for j := range m {
			genRecord(&recs[j], i+j, from.Add(time.Duration(i+j)*step))
		}
		now := from.Add(time.Duration(i+m) * step)
		clock.Store(now.UnixNano())
		batch := &collector.Batch{ID: "g" + strconv.Itoa(i), Sender: "token:sidecar-" + strconv.Itoa(i/per%4),
			Instance: "pod-" + strconv.Itoa(i/per%4), Records: recs[:m]}
		if err := st.AppendBatch(batch); err != nil {
			b.Fatal(err)
		}
		if day := now.Sub(from) / (24 * time.Hour); i/per%max(1, n/per/91) == 0 {
			ev := collector.Event{Time: now, Key: "/bench/events/" + strconv.Itoa(i), Revision: int64(i + 1), Actor: "alice",
				Action: "key.revoke", Target: "k" + strconv.Itoa(int(day)%200), Ticket: "SEC-" + strconv.Itoa(int(day))}
			if err := st.AppendEvents([]collector.Event{ev}); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
}

var (
	benchStatus   = [20]int64{200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 429}
	benchDecision = map[int64]string{200: "allowed", 401: "unauthenticated", 403: "forbidden", 413: "body_too_large", 429: "rate_limited"}
	benchRoutes   = [4]string{"/v1/users", "/v1/users/{id}", "/v1/reports/{id}", "/v1/admin/settings"}
)

// genRecord fills r with record i, as a sidecar sends it.
func genRecord(r *collector.StoredRecord, i int, t time.Time) {
	tenant := i % 60
	if tenant >= 40 {
		tenant = 0 // the noisy neighbour: a third of the traffic
	}
	status := benchStatus[i%20]
	if i%100 == 7 {
		status = 403
	} else if i%1000 == 9 {
		status = 413
	}
	c := i % 200
	*r = collector.StoredRecord{Time: t, Tenant: "tenant-" + strconv.Itoa(tenant), Client: "client-" + strconv.Itoa(c),
		KeyID: "k" + strconv.Itoa(c), AuthMethod: "api_key", Method: "GET", Route: benchRoutes[i%4], Path: "/v1/users/12345",
		Status: status, Decision: benchDecision[status], RequestID: "req-" + strconv.Itoa(i), SourceIP: "10.0.0." + strconv.Itoa(i%250),
		BytesIn: 120, BytesOut: 2048, DurationUS: 850, UserAgent: "integration-sdk/1.4 (linux)", PolicyRevision: 42}
}

// BenchmarkPack builds the evidence pack of 2026-Q2 over a store of
// benchRecords records (issue 15's goal: 10 million in under 60 s), with
// the integrity proof, and reports the peak heap.
//
//	PORTCULLIS_EVIDENCE_BENCH_RECORDS=10000000 go test ./evidence -run '^$' -bench BenchmarkPack -benchtime 1x -benchmem -timeout 60m
func BenchmarkPack(b *testing.B) {
	n := benchRecords(b)
	data, key := benchStore(b, n)
	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		b.Fatal(err)
	}
	p, _ := ParsePeriod("2026-Q2")
	now := func() time.Time { return time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC) }
	b.ReportAllocs()
	runtime.GC()
	peak := newPeakHeap()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: b.TempDir(), SigningKey: key, Now: now})
		if err != nil {
			b.Fatal(err)
		}
		if res.Records != n {
			b.Fatalf("pack read %d records, want %d", res.Records, n)
		}
	}
	b.StopTimer()
	// The CPU time says what the pack costs whatever else the machine runs.
	b.ReportMetric((cpuTime(b)-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(peak.stop())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(n), "records")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakHeap samples the live heap every 10 ms until stop.
type peakHeap struct {
	done chan struct{}
	peak atomic.Uint64
}

func newPeakHeap() *peakHeap {
	p := &peakHeap{done: make(chan struct{})}
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > p.peak.Load() {
				p.peak.Store(v)
			}
			select {
			case <-p.done:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peakHeap) stop() uint64 {
	close(p.done)
	return p.peak.Load()
}
