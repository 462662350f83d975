package audit_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/portcullis/portcullis/audit"
)

// BenchmarkEmitterHeapSlowCollector reports the emitter's peak heap
// (peak-heap-MB, runtime HeapInuse sampled every 2 ms) while records
// arrive at 40,000 a second, as in the e2e bench, for a collector that
// answers a batch of 512 in 5 ms and stalls for 60 ms every tenth (it
// keeps up on average, 48,000 records a second, and lags 2,400 records
// at each stall): what the sidecar holds for a collector that lags
// (issue 18). It reports the records spooled and dropped too.
func BenchmarkEmitterHeapSlowCollector(b *testing.B) {
	var n atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		d := 5 * time.Millisecond
		if n.Add(1)%10 == 0 {
			d = 60 * time.Millisecond
		}
		time.Sleep(d)
	}))
	b.Cleanup(slow.Close)
	for b.Loop() {
		cfg := EmitterConfig{URL: slow.URL, SpoolDir: b.TempDir(), RetryBudget: time.Minute, Host: "h", InstanceID: "i"}
		e, err := NewEmitter(cfg)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		peak := make(chan uint64)
		stop := make(chan struct{})
		go samplePeakHeap(stop, peak)
		const rate, seconds = 40_000, 2
		start := time.Now()
		for i := range rate * seconds {
			r := SampleRecord(i)
			e.Emit(&r)
			if i%400 == 0 { // paced in steps of 10 ms
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / rate)))
			}
		}
		close(stop)
		b.ReportMetric(float64(<-peak)/(1<<20), "peak-heap-MB")
		e.Close()
		st := e.Stats()
		b.ReportMetric(float64(st.Spooled), "spooled")
		b.ReportMetric(float64(st.Dropped), "dropped")
	}
}

// samplePeakHeap sends the largest HeapInuse seen until stop closes.
func samplePeakHeap(stop chan struct{}, peak chan<- uint64) {
	var m runtime.MemStats
	var top uint64
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			peak <- top
			return
		case <-t.C:
			runtime.ReadMemStats(&m)
			top = max(top, m.HeapInuse)
		}
	}
}
