package collector

import (
	"crypto/ed25519"
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

// The alert events detection stores inside a batch's entry (issue 14)
// reach every reader of events: QueryEvents and a ReadStore pass, with
// and without records, verifying or not.
func TestBatchAlertEventsReachEveryReader(t *testing.T) {
	dir := t.TempDir()
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := StoreConfig{Detection: Detection{Detect: func(seq uint64, records []StoredRecord, _ []Event) []Event {
		if len(records) == 0 {
			return nil
		}
		return []Event{{Time: records[0].Time, Action: "alert.open", Target: "a-" + itoa(int(seq))}}
	}}}
	st := openTestStore(t, dir, key, cfg, 0, 3)
	if err := st.AppendEvents([]Event{{Time: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), Action: "key.revoke", Target: "k1"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	count := func(evs []string) (alerts, others int) {
		for _, a := range evs {
			if a == "alert.open" {
				alerts++
			} else {
				others++
			}
		}
		return
	}
	var queried []string
	if err := QueryEvents(dir, time.Time{}, time.Time{}, func(ev *Event) error { queried = append(queried, ev.Action); return nil }); err != nil {
		t.Fatal(err)
	}
	if a, o := count(queried); a != 3 || o != 1 {
		t.Errorf("QueryEvents: %d alert.open and %d others, want 3 and 1 (%v)", a, o, queried)
	}
	for _, p := range []struct {
		name    string
		records bool
		verify  bool
	}{{"events only", false, false}, {"records and events", true, false}, {"verifying", true, true}} {
		var got []string
		pass := Pass{Events: func(_ *Entry, ev *Event) error { got = append(got, ev.Action); return nil }}
		if p.records {
			pass.Records = func(*Entry, *StoredRecord) error { return nil }
		}
		if p.verify {
			pass.VerifyKey = key.Public().(ed25519.PublicKey)
		}
		if _, err := ReadStore(dir, pass); err != nil {
			t.Fatalf("%s: ReadStore: %v", p.name, err)
		}
		if a, o := count(got); a != 3 || o != 1 {
			t.Errorf("%s: ReadStore events: %d alert.open and %d others, want 3 and 1 (%v)", p.name, a, o, got)
		}
	}
}
