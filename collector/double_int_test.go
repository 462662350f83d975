package collector

import (
	"math"
	"testing"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/portcullis/portcullis/audit"
)

// A number attribute sent as a double out of int64's range, or NaN, was
// converted with int64(f), whose result Go leaves to the machine: on
// amd64 a status of 1e300 was stored as -9223372036854775808, a negative
// status from a positive claim, and NaN likewise (arm64 stores others).
// It now saturates, NaN 0, the same everywhere.
func TestDoubleAttributeSaturates(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want int64
	}{{1e300, math.MaxInt64}, {-1e300, math.MinInt64}, {math.Inf(1), math.MaxInt64}, {math.NaN(), 0}, {404.9, 404}, {-3.5, -3}} {
		req := &logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{{
			TimeUnixNano: 1,
			Attributes:   []*commonpb.KeyValue{{Key: audit.AttrStatus, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: tt.v}}}},
		}}}}}}}
		body, err := proto.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := DecodeBatch(body, FormatProtobuf)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Records[0].Status; got != tt.want {
			t.Errorf("status sent as the double %v: stored %d, want %d", tt.v, got, tt.want)
		}
	}
}
