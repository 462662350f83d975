package alert

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// benchBatch is 512 records of ordinary traffic with some failures, 429s
// and exports, from 64 addresses and the example's clients.
func benchBatch(start time.Time) []collector.StoredRecord {
	recs := make([]collector.StoredRecord, 512)
	for i := range recs {
		mods := []func(*collector.StoredRecord){from(fmt.Sprintf("10.%d.%d.7", i%8, i%64)), bytesOut(int64(1000 + i))}
		switch i % 16 {
		case 3:
			mods = append(mods, failed("acmehris1"))
		case 7:
			mods = append(mods, limited)
		case 11:
			mods = append(mods, export)
		}
		recs[i] = rec(start.Add(time.Duration(i)*time.Millisecond), mods...)
	}
	return recs
}

// BenchmarkCollectorIngest measures durable ingestion into a real store
// (fsync per batch) of 512-record batches without detection and with the
// example policy's rules on the store's hook, in the same run (issue 14:
// detection may cost at most 20% of ingest throughput).
func BenchmarkCollectorIngest(b *testing.B) {
	for _, rules := range []bool{false, true} {
		name := "no-rules"
		if rules {
			name = "rules"
		}
		b.Run(name, func(b *testing.B) {
			_, key, _ := ed25519.GenerateKey(rand.Reader)
			dir := b.TempDir()
			var eng *Engine
			cfg := collector.StoreConfig{SigningKey: key}
			if rules {
				cfg.Detection = lateHooks(&eng)
			}
			st, err := collector.OpenStore(dir, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			if eng, err = New(Config{Policy: examplePolicy(b), Append: st.AppendEvents}); err != nil {
				b.Fatal(err)
			}
			batches := make([][]collector.StoredRecord, 64)
			for i := range batches {
				batches[i] = benchBatch(t0.Add(time.Duration(i) * time.Second))
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := st.AppendBatch(&collector.Batch{ID: "b" + strconv.Itoa(i), Records: batches[i%len(batches)]}); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N*512)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkCollectorIngestInterleaved ingests the same batch into two real
// stores, one without detection and one with the example policy's rules
// on its hook, alternating batch by batch in one loop, so that the disk's
// and the machine's noise falls on both alike (the sub-benchmarks of
// BenchmarkCollectorIngest run one after the other). It reports each
// side's mean time per batch and the detection overhead in percent (issue
// 14: at most 20%), and the overhead of the median batch, which a stall
// of the loaded machine during one append does not move.
func BenchmarkCollectorIngestInterleaved(b *testing.B) {
	open := func(rules bool) *collector.Store {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		var eng *Engine
		cfg := collector.StoreConfig{SigningKey: key}
		if rules {
			cfg.Detection = lateHooks(&eng)
		}
		st, err := collector.OpenStore(b.TempDir(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		if eng, err = New(Config{Policy: examplePolicy(b), Append: st.AppendEvents}); err != nil {
			b.Fatal(err)
		}
		return st
	}
	plain, detecting := open(false), open(true)
	batches := make([][]collector.StoredRecord, 64)
	for i := range batches {
		batches[i] = benchBatch(t0.Add(time.Duration(i) * time.Second))
	}
	var without, with time.Duration
	var withoutEach, withEach []time.Duration
	i := 0
	for b.Loop() {
		recs := batches[i%len(batches)]
		id := "b" + strconv.Itoa(i)
		first, second, dFirst, dSecond := plain, detecting, &without, &with
		if i%2 == 1 { // alternate which store goes first
			first, second, dFirst, dSecond = detecting, plain, &with, &without
		}
		start := time.Now()
		if err := first.AppendBatch(&collector.Batch{ID: id, Records: recs}); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := second.AppendBatch(&collector.Batch{ID: id, Records: recs}); err != nil {
			b.Fatal(err)
		}
		end := time.Now()
		*dFirst += mid.Sub(start)
		*dSecond += end.Sub(mid)
		if i%2 == 1 {
			withEach, withoutEach = append(withEach, mid.Sub(start)), append(withoutEach, end.Sub(mid))
		} else {
			withoutEach, withEach = append(withoutEach, mid.Sub(start)), append(withEach, end.Sub(mid))
		}
		i++
	}
	b.ReportMetric(float64(without.Nanoseconds())/float64(b.N), "no-rules-ns/batch")
	b.ReportMetric(float64(with.Nanoseconds())/float64(b.N), "rules-ns/batch")
	b.ReportMetric(100*(float64(with)/float64(without)-1), "overhead-%")
	b.ReportMetric(100*(float64(median(withEach))/float64(median(withoutEach))-1), "median-overhead-%")
}

// median returns the median of ds (which it sorts).
func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// BenchmarkObserve measures the engine alone on 512-record batches.
func BenchmarkObserve(b *testing.B) {
	eng, err := New(Config{Policy: examplePolicy(b)})
	if err != nil {
		b.Fatal(err)
	}
	batch := benchBatch(t0)
	b.ReportAllocs()
	for b.Loop() {
		eng.Observe(batch, nil)
	}
	b.ReportMetric(float64(b.N*512)/b.Elapsed().Seconds(), "records/s")
}
