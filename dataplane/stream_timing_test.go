package dataplane

import "testing"

// BenchmarkStreamRead is the fixed cost of one responseBody.Read, the
// recover it runs under (readPanicked) included: a body with nothing left
// to read, so no system call hides it.
func BenchmarkStreamRead(b *testing.B) {
	b.ReportAllocs()
	body := &responseBody{}
	p := make([]byte, 4<<10)
	for b.Loop() {
		body.Read(p)
	}
}
