package collector

import (
	"math"
	"net/http"
	"testing"
	"time"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"
)

// TestRecordTimePastInt64Saturates: a record's timeUnixNano (or
// observedTimeUnixNano) is an unsigned 64-bit count, and one past int64's
// range was converted with int64(ns), which wraps: a record a sender dated
// 2554 (18446744073709551615) was stored dated 1969-12-31T23:59:59.999999999Z,
// before the epoch, and counted in a pack of 1969-12. It now saturates at
// the latest time a record can hold (2262), the sender's claim of a far
// future, as a double's number attribute does (TestDoubleAttributeSaturates),
// by both the protobuf and the JSON decoder, over a real collector.
func TestRecordTimePastInt64Saturates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	for i, ns := range []uint64{math.MaxUint64, 1<<63 + 5, math.MaxInt64 + 1} {
		lr := &logspb.LogRecord{TimeUnixNano: ns}
		if i == 2 {
			lr = &logspb.LogRecord{ObservedTimeUnixNano: ns}
		}
		body, err := proto.Marshal(&logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{ScopeLogs: []*logspb.ScopeLogs{{LogRecords: []*logspb.LogRecord{lr}}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if code := post(t, srv.URL, testToken, body, false); code != http.StatusOK {
			t.Fatalf("protobuf batch dated %d: %d, want 200", ns, code)
		}
	}
	if code := postJSONAs(t, srv.URL, testToken, []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"18446744073709551615"}]}]}]}`)); code != http.StatusOK {
		t.Fatalf("JSON batch: %d, want 200", code)
	}
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 4 {
		t.Fatalf("stored %d records, want 4", len(recs))
	}
	want := time.Unix(0, math.MaxInt64).UTC()
	for i, r := range recs {
		if !r.Time.Equal(want) {
			t.Errorf("record %d dated past int64's range stored at %v, want %v", i, r.Time, want)
		}
	}
}
