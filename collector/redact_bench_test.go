package collector

import (
	"strconv"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"
)

// BenchmarkRedactForeign decodes a protobuf batch of 512 records of a
// foreign OTLP client (an HTTP server's access log, as an SDK's
// instrumentation writes it: no credential in it) and clears their
// request fields as the intake does: the cost of redaction on the
// records it finds nothing in, the common case.
func BenchmarkRedactForeign(b *testing.B) {
	const size = 512
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	recs := make([]*logspb.LogRecord, size)
	for i := range recs {
		n := strconv.Itoa(i)
		recs[i] = &logspb.LogRecord{
			TimeUnixNano: uint64(1e18 + i),
			Body:         &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "GET /v1/orders/" + n + "?page=2 200 in 12ms user=bob region: eu-west-1 retries=0"}},
			Attributes: []*commonpb.KeyValue{
				str("http.request.method", "GET"),
				str("url.path", "/v1/orders/"+n),
				str("url.full", "https://api.example/v1/orders/"+n+"?page=2"),
				str("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"),
				str("http.request.header.x-request-id", "3f2a9c1e-7b44-4c1d-9a0e-"+n),
				str("server.address", "api.example"),
				str("app.handler", "orders.Get"),
				str("app.note", "cache: miss, upstream=orders-db:5432"),
			},
		}
	}
	body, err := proto.Marshal(&logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}}}}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		bt, err := DecodeBatch(body, FormatProtobuf)
		if err != nil || len(bt.Records) != size {
			b.Fatalf("decoded %v records, err %v", len(bt.Records), err)
		}
		for i := range bt.Records {
			bt.Records[i].redactRequestFields()
			bt.Records[i].redactAttributePair()
		}
	}
	reportCPU(b, start, size)
}
