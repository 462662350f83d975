package dataplane

import (
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// BenchmarkDecideGlobal is BenchmarkDecide with global limits on and
// shares pushed (etcd mode): the cost of counting demand and of the
// per-tenant class limits.
func BenchmarkDecideGlobal(b *testing.B) {
	raw := request("GET", "/v1/users/42", hrisKey)
	m := newInmem(b, false)
	globalMode(m)
	m.serve(b, raw)
	m.srv.keys.Wait()
	m.src.Reset(raw)
	m.br.Reset(m.src)
	if err := m.ctx.Request.Read(m.br); err != nil {
		b.Fatal(err)
	}
	mono, wall := m.srv.clock.now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		x := m.srv.begin(&m.ctx, mono, wall)
		if d := m.srv.decide(&m.ctx, x); d != audit.Allowed {
			b.Fatalf("decision %v", d)
		}
		m.srv.record(&m.ctx, x)
		mono, wall = mono+m.sink.last.Duration, wall+m.sink.last.Duration
		m.srv.end(x)
	}
}
