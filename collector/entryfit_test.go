package collector

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
)

// A batch too large for one store entry is refused before detection
// counts it, even when its records alone would fit and only the alert
// events derived from them would not: a batch refused after detection
// (Commit with stored false) leaves the alert engine's state ahead of the
// trail, without snapshots until a restart replays it. The batch is sized,
// through real HTTP, so that its records end 40 bytes under the limit
// (written by an outside review, which found the gap).
func TestTooLargeRefusedBeforeDetection(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	clock := func() time.Time { return now }
	var mu sync.Mutex
	var detected, refusedAfterDetect int
	alertEvent := Event{Time: now, Actor: "detection", Action: "alert.open", Target: "acme/crm-sync",
		Reason: "rule unauthenticated_spike: 180 in 1m0s, baseline 0"}
	cfg := StoreConfig{SigningKey: newTestKey(t), Now: clock, Detection: Detection{
		Detect: func(_ uint64, recs []StoredRecord, _ []Event) []Event {
			mu.Lock()
			defer mu.Unlock()
			if len(recs) > 0 {
				detected++
				return []Event{alertEvent}
			}
			return nil
		},
		Commit: func(_ uint64, _ [32]byte, stored bool) {
			mu.Lock()
			defer mu.Unlock()
			if !stored && detected > 0 {
				refusedAfterDetect++
			}
		},
	}}
	dir := t.TempDir()
	st, err := OpenStore(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(st, Config{Token: testToken, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	t.Cleanup(func() { srv.Close(); st.Close() })

	// Records of 48 foreign attributes full of '<' (six bytes each in
	// JSON), each within the 64 KiB record limit, then one record of
	// ASCII filler sized so the entry's records end just under the limit.
	mk := func(fill int) []byte {
		var recs []*logspb.LogRecord
		for range 181 {
			attrs := []*commonpb.KeyValue{kv(audit.AttrDecision, sv("unauthenticated"))}
			for j := range 48 {
				attrs = append(attrs, kv(strings.Repeat("<", 250)+fmt.Sprintf("%04d", j), sv(strings.Repeat("<", maxForeignValue))))
			}
			recs = append(recs, &logspb.LogRecord{TimeUnixNano: uint64(now.UnixNano()), Attributes: attrs})
		}
		for fill > 0 {
			var last []*commonpb.KeyValue
			for j := 0; fill > 0 && j < 50; j++ {
				n := min(fill, maxForeignValue)
				last = append(last, kv(fmt.Sprintf("f%02d", j), sv(strings.Repeat("a", n))))
				fill -= n
			}
			recs = append(recs, &logspb.LogRecord{TimeUnixNano: uint64(now.UnixNano()), Attributes: last})
		}
		return logsBody(t, "fit-1", recs...)
	}
	size := func(body []byte) int {
		b, err := DecodeBatch(body, FormatProtobuf)
		if err != nil {
			t.Fatal(err)
		}
		col.admitBatch(b, "token:default", now)
		scratch := &Store{cfg: StoreConfig{Now: clock}}
		return len(scratch.batchRecordsLocked(b)) + entryOverhead
	}
	// The records end 40 bytes under the limit; the event's JSON is
	// longer than that.
	target := MaxEntryBytes - 40
	fill := 1000
	var body []byte
	for range 6 {
		body = mk(fill)
		got := size(body)
		if got == target {
			break
		}
		fill += target - got
		if fill < 1 {
			t.Fatalf("bulk records alone encode to %d bytes, over %d", got, target)
		}
	}
	if got := size(body); got != target {
		t.Fatalf("could not size the batch: %d, want %d", got, target)
	}
	code := post(t, srv.URL, testToken, body, false)
	mu.Lock()
	defer mu.Unlock()
	if code == http.StatusRequestEntityTooLarge && refusedAfterDetect > 0 {
		t.Errorf("batch refused with 413 after detection counted its records (Commit stored=false %d times): refuse it before Detect", refusedAfterDetect)
	}
	if code != http.StatusRequestEntityTooLarge && code != http.StatusOK {
		t.Errorf("status %d, want 413 (refused before detection) or 200 (stored)", code)
	}
}
