package dataplane

import "testing"

// BenchmarkDecideGlobal is BenchmarkDecide with global limits on and
// shares pushed (etcd mode): the cost of counting demand and of the
// per-tenant class limits.
func BenchmarkDecideGlobal(b *testing.B) {
	m := newInmem(b, false)
	globalMode(m)
	benchDecideOn(b, m, request("GET", "/v1/users/42", hrisKey))
}
