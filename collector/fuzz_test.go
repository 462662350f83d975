package collector

import (
	"context"
	"runtime"
	"testing"
)

// FuzzDecodeBatch feeds hostile OTLP bodies, protobuf and JSON, to the
// collector's decoder and re-encodes what it accepts: neither may panic,
// and a protobuf body may not cost more than a budget linear in its size
// (allocated bytes: a time budget a fuzzer can check without a clock,
// issue 21 item 8). Run it with a time budget of its own, e.g.
// go test -run '^$' -fuzz FuzzDecodeBatch -fuzztime 60s ./collector.
// Seeds live in testdata/fuzz/FuzzDecodeBatch.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch("i-1", sampleRecord(1)), false)
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000000000000","body":{"stringValue":"hi"},"attributes":[{"key":"http.route","value":{"stringValue":"/x"}}]}]}]}]}`), true)
	f.Add(repeatedBody(20), false)
	f.Add(emptyRecords(100), false)
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		format := FormatProtobuf
		if asJSON {
			format = FormatJSON
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b, err := DecodeBatchContext(context.Background(), body, format, DecodeLimits{})
		runtime.ReadMemStats(&after)
		if budget := uint64(1<<20 + 1024*len(body)); !asJSON && after.TotalAlloc-before.TotalAlloc > budget {
			t.Fatalf("decoding %d bytes allocated %d, over the budget of %d", len(body), after.TotalAlloc-before.TotalAlloc, budget)
		}
		if err != nil {
			return
		}
		if b.ID == "" {
			t.Fatal("accepted batch without an id")
		}
		for i := range b.Records {
			b.Records[i].AppendJSON(nil)
			AppendOCSF(nil, &b.Records[i])
		}
	})
}
