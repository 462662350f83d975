package collector

import (
	"slices"
	"testing"
	"time"
)

// A sender (a sidecar whose clock runs ahead, or a stolen token) dates a
// record far after the time it is received: the collector stores it
// flagged time_outside_window, but a query or an evidence pack for the
// period it was received in selected records by their own time only, so
// the record was in no pack of the period it arrived in, only in one of a
// period yet to come. Now a flagged record dated ahead of its receipt is
// also selected by the time the collector stored it: the period's readers
// (QueryRecords and ReadStore passes, which the evidence pack uses) see it,
// flag included. A record dated before its receipt (a spool replayed late)
// stays in its own period only, as the evidence pack expects.
func TestOutOfWindowRecordInReceiptPeriod(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startNamedCollector(t, dir, newTestKey(t), Config{})
	now := time.Now()
	past, inTime, future := sampleRecord(1), sampleRecord(2), sampleRecord(3)
	past.Time = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	past.SetRequestID([]byte("req-past"))
	inTime.Time = now.UnixNano()
	inTime.SetRequestID([]byte("req-now"))
	future.Time = now.Add(24 * 365 * time.Hour).UnixNano()
	future.SetRequestID([]byte("req-future"))
	if got := post(t, srv.URL, aliceToken, encodeBatch("w-1", past, inTime, future), false); got != 200 {
		t.Fatalf("post: %d", got)
	}
	st.Close()
	period := Filter{From: now.Add(-time.Hour), To: now.Add(time.Hour)}
	want := []string{"req-future", "req-now"}

	var queried []string
	if err := QueryRecords(dir, period, func(r *StoredRecord) error {
		if r.RequestID != "req-now" && !slices.Contains(r.Flags, FlagTimeOutsideWindow) {
			t.Errorf("record %s dated %s selected without its flag", r.RequestID, r.Time)
		}
		queried = append(queried, r.RequestID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(queried)
	if !slices.Equal(queried, want) {
		t.Errorf("QueryRecords of the receipt period: %v, want %v", queried, want)
	}

	var passed []string
	if _, err := ReadStore(dir, Pass{Filter: period, Records: func(_ *Entry, r *StoredRecord) error {
		passed = append(passed, r.RequestID)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(passed)
	if !slices.Equal(passed, want) {
		t.Errorf("ReadStore pass of the receipt period: %v, want %v", passed, want)
	}

	// The record's own period still finds it, and one that covers
	// neither does not.
	var own []string
	QueryRecords(dir, Filter{From: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2001, 1, 2, 0, 0, 0, 0, time.UTC)},
		func(r *StoredRecord) error { own = append(own, r.RequestID); return nil })
	if !slices.Equal(own, []string{"req-past"}) {
		t.Errorf("query of the record's own day: %v, want [req-past]", own)
	}
	var none []string
	QueryRecords(dir, Filter{From: time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC)},
		func(r *StoredRecord) error { none = append(none, r.RequestID); return nil })
	if len(none) != 0 {
		t.Errorf("query of a year that holds none: %v", none)
	}
}
