package policy_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/policytest"
)

// BenchmarkCompileScale is Compile of generated policies of 10, 1,000 and
// 100,000 API keys with 1,000 routes (issue 18: compile and swap of
// 100,000 keys under 1 s). It reports B/key, the heap the document and
// its snapshot keep per key beyond a policy of one key, with the clients,
// tenants and routes the same.
func BenchmarkCompileScale(b *testing.B) {
	for _, keys := range []int{10, 1000, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			size := policytest.Size{Tenants: 10, Clients: 100, Keys: keys, Routes: 1000}
			perKey := marginal(b, size, func(s *policytest.Size) { s.Keys = 1 }, keys-1)
			benchCompile(b, size)
			if keys >= 1000 { // below, the difference is within the heap's noise
				b.ReportMetric(perKey, "B/key")
			}
		})
	}
}

// BenchmarkCompileClients is Compile of generated policies of 10,000
// clients with one key each, over 1,000 tenants. It reports B/client, the
// heap the document and its snapshot keep per client (with its tenant
// share and one key) beyond a policy of one client.
func BenchmarkCompileClients(b *testing.B) {
	size := policytest.Size{Tenants: 1000, Clients: 10_000, Keys: 10_000, Routes: 1000}
	one := func(s *policytest.Size) { s.Tenants, s.Clients, s.Keys = 1, 1, 1 }
	perClient := marginal(b, size, one, size.Clients-1)
	benchCompile(b, size)
	b.ReportMetric(perClient, "B/client")
}

// benchCompile times Compile of the document of size. It resets the
// timer, which drops metrics reported before it.
func benchCompile(b *testing.B, size policytest.Size) {
	doc, _ := policytest.Document(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := policy.Compile(doc, policy.Live{Revision: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// marginal returns the heap kept by the document and snapshot of size,
// less that of size shrunk by base, divided by n.
func marginal(b *testing.B, size policytest.Size, base func(*policytest.Size), n int) float64 {
	small := size
	base(&small)
	return float64(retained(b, size)-retained(b, small)) / float64(n)
}

// retained returns the live heap that generating and compiling the
// document of size adds: what a sidecar keeps for the policy in force.
func retained(b *testing.B, size policytest.Size) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	doc, _ := policytest.Document(size) // the plaintext keys are the benchmark's, not the sidecar's
	snap, err := policy.Compile(doc, policy.Live{Revision: 1})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(snap)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}
