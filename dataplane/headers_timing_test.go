package dataplane

import (
	"testing"
)

// BenchmarkScanHeaders is the header check of a typical API request.
func BenchmarkScanHeaders(b *testing.B) {
	raw := []byte("Host: svc\r\nUser-Agent: bench/1.0\r\nX-API-Key: " + hrisKey + "\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		var h requestHeaders
		if !scanHeaders(raw, &h) {
			b.Fatal("rejected")
		}
	}
}
