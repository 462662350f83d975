package audit

import (
	"path/filepath"
	"testing"
)

// BenchmarkAuditCapture measures Emit, the only audit cost on the request
// path: a record copied into a slot of the ring (0 allocs/op once records
// go round), or handed over with swap.
func BenchmarkAuditCapture(b *testing.B) {
	b.Run("ring", func(b *testing.B) {
		q, _ := newRing(1 << 12)
		r := sampleRecord(1)
		b.ReportAllocs()
		for b.Loop() {
			q.push(&r)
			q.peek()
			q.release()
		}
	})
	b.Run("ring/swap", func(b *testing.B) {
		q, _ := newRing(1 << 12)
		r := sampleRecord(1)
		p := &r
		b.ReportAllocs()
		for b.Loop() {
			p, _ = q.swap(p)
			q.peek()
			q.release()
		}
	})
	b.Run("FileWriter/parallel", func(b *testing.B) {
		w, err := NewFileWriter(filepath.Join(b.TempDir(), "a.jsonl"), FileConfig{Slots: 1 << 16})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := sampleRecord(2)
			for pb.Next() {
				w.Emit(&r)
			}
		})
	})
	// Emitter.Emit is the same ring push; it is not benchmarked in parallel
	// here because its sender's HTTP traffic (in this process) would be
	// charged to Emit in B/op. TestSinkEmitAllocs guards it at 0 allocs.
}

// BenchmarkAuditEncode measures the background encoders in records/s
// (goal: above 1M/s per core for both).
func BenchmarkAuditEncode(b *testing.B) {
	r := sampleRecord(4)
	r.TokenFingerprint = [16]byte{1}
	b.Run("json", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			buf = r.AppendJSON(buf[:0])
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("otlp", func(b *testing.B) {
		enc := batchEncoder{size: 512} // as the Emitter's, with its default BatchSize
		enc.res = Resource{Service: "svc", Host: "h", InstanceID: "i"}
		id := []byte("i-1")
		enc.begin(id)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if n++; n%512 == 0 {
				enc.finish()
				enc.begin(id)
			}
			enc.add(&r)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
