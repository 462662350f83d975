package collector

import (
	"testing"
	"time"
)

// hasEvents skips a batch entry without alert events undecoded, even when
// a record's attributes use the key "events", and keeps one that has them.
func TestHasEventsSkipsOnlyBatchesWithoutEvents(t *testing.T) {
	s := &Store{cfg: StoreConfig{Now: func() time.Time { return time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC) }}}
	b := &Batch{ID: "b-1", Records: []StoredRecord{{Tenant: "acme", Status: 200, Attributes: map[string]string{"events": "[1]"},
		UserAgent: `,"events":[`}}}
	body, err := s.batchBodyLocked(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	line := append([]byte(`{"body":`), append(body, '}')...)
	if hasEvents(line) {
		t.Errorf("batch without events: hasEvents = true for %s", line)
	}
	body, err = s.batchBodyLocked(b, []Event{{Action: "alert.open", Target: "a-1"}})
	if err != nil {
		t.Fatal(err)
	}
	line = append([]byte(`{"body":`), append(body, '}')...)
	if !hasEvents(line) {
		t.Errorf("batch with alert events: hasEvents = false for %s", line)
	}
	if !hasEvents([]byte(`{"body":{"seq":3,"kind":"events","events":[]}}`)) {
		t.Error("events entry: hasEvents = false")
	}
}
