package collector

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// TestSenderCountsHeldPerSecond: a record's count is believed up to
// audit.MaxFoldCount, and a sender's byte quota lets some 34,000 records
// a second through, so one token (which may serve a fleet) made up to
// 2.2 billion refusals a second believed, every one of them driving
// detection's rules, incident assess and the pack's noisy-neighbour
// shares. What the collector believes of one sender's counts in one
// second of record time is now held at MaxSenderRequestsPerSecond (the
// most sidecars a policy lets share a limit, policy.MaxGlobalSidecars,
// each writing one full fold): a record whose count would pass it, or
// dated ceilingSeconds or more before the newest second its sender's
// counts were believed in, counts one request and is flagged: the first
// FlagCountPastSenderCeiling, the second FlagCountOutsideSenderWindow,
// which says why (it was flagged past the ceiling, as if its second were
// full). The sum runs across batches; another sender has its own.
func TestSenderCountsHeldPerSecond(t *testing.T) {
	t.Parallel()
	const fleet = policy.MaxGlobalSidecars
	sec := countsAt
	refusal := func(at time.Time) StoredRecord {
		return StoredRecord{Time: at, Tenant: "acme", Client: "acme-crm", Route: "/v1/users", Status: 429, Decision: "rate_limited", Limit: "key", Count: audit.MaxFoldCount}
	}
	unverified := func(at time.Time) StoredRecord {
		return StoredRecord{Time: at, Status: 401, Decision: "unauthenticated", SourceIP: "203.0.113.7", Count: audit.MaxFoldCount}
	}
	var first, second, other []StoredRecord
	for range fleet - 400 {
		first = append(first, refusal(sec))
	}
	for range 400 {
		second = append(second, unverified(sec.Add(500*time.Millisecond)))
	}
	second = append(second, refusal(sec), refusal(sec.Add(time.Second)), refusal(sec.Add(-4096*time.Second)))
	for range 10 {
		other = append(other, refusal(sec))
	}
	n, rep, dir := storeBatches(t,
		&Batch{ID: "b0", Sender: "token:fleet", Records: first},
		&Batch{ID: "b1", Sender: "token:fleet", Records: second},
		&Batch{ID: "b0", Sender: "token:other", Records: other})
	if n != 2 {
		t.Errorf("CountsNotBelieved = %d, want 2 (the fold past the sender's second, the one dated before its window)", n)
	}
	if want := int64(fleet+1+10)*audit.MaxFoldCount + 2; rep.Requests != want {
		t.Errorf("requests %d, want %d: %d full folds a sender a second, one more counted one, one of the next second, and another sender's own",
			rep.Requests, want, fleet)
	}
	flagged := map[string]int{}
	for _, r := range storedRecords(t, dir) {
		for _, f := range []string{"count_past_sender_ceiling", "count_outside_sender_window"} {
			if slices.Contains(r.Flags, f) {
				flagged[f]++
				if r.Requests() != 1 {
					t.Errorf("a record flagged %s read back counts %d, want 1", f, r.Requests())
				}
			}
		}
	}
	if flagged["count_past_sender_ceiling"] != 1 || flagged["count_outside_sender_window"] != 1 {
		t.Errorf("records stored flagged %v, want one count_past_sender_ceiling (its second full) and one count_outside_sender_window (dated before its sender's window)", flagged)
	}
}

// TestSenderCeilingOverLoopback: a sidecar's folded limit refusals reach
// a real collector over loopback in two batches of one sender, 1,000 full
// folds of one second and one more: the last is stored flagged
// count_past_sender_ceiling, counts one and is counted in
// portcullis_collector_counts_not_believed_total.
func TestSenderCeilingOverLoopback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := boundCollector(t, dir, &logLines{})
	sec := time.Now().Truncate(time.Second).UnixNano()
	refusal := func(i int) audit.Record {
		r := tenantRecord(i, "acme")
		r.Client, r.Status, r.Decision, r.Limit, r.Count, r.Time = "acme-crm", 429, audit.RateLimited, audit.LimitKey, audit.MaxFoldCount, sec
		return r
	}
	full := make([]audit.Record, policy.MaxGlobalSidecars)
	for i := range full {
		full[i] = refusal(i)
	}
	if got := post(t, srv.URL, acmeToken, encodeBatch("s-1", full...), true); got != 200 {
		t.Fatalf("the sender's first %d full folds: status %d, want 200", len(full), got)
	}
	if got := post(t, srv.URL, acmeToken, encodeBatch("s-2", refusal(len(full))), false); got != 200 {
		t.Fatalf("one more full fold of the second: status %d, want 200 (stored, counted one)", got)
	}
	var requests int64
	flagged := 0
	for _, r := range storedRecords(t, dir) {
		requests += r.Requests()
		if slices.Contains(r.Flags, FlagCountPastSenderCeiling) {
			flagged++
		}
	}
	if want := int64(MaxSenderRequestsPerSecond + 1); requests != want || flagged != 1 {
		t.Errorf("stored records stand for %d requests, %d flagged; want %d, one flagged", requests, flagged, want)
	}
	if m := getMetricsWith(t, srv.URL, sharedToken); !strings.Contains(m, "portcullis_collector_counts_not_believed_total 1\n") {
		t.Errorf("metrics do not count 1 count not believed:\n%s", m)
	}
}

// TestSenderCeilingNotChargedByADuplicate: a batch sent again (its id
// already stored) is refused before its counts are summed, so a sender
// retrying a batch does not use up its second's ceiling: after 999 full
// folds of one second, the same batch again, then one more fold of that
// second, the last is believed, the 1,000th full fold.
func TestSenderCeilingNotChargedByADuplicate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := boundCollector(t, dir, &logLines{})
	sec := time.Now().Truncate(time.Second).UnixNano()
	refusal := func(i int) audit.Record {
		r := tenantRecord(i, "acme")
		r.Client, r.Status, r.Decision, r.Limit, r.Count, r.Time = "acme-crm", 429, audit.RateLimited, audit.LimitKey, audit.MaxFoldCount, sec
		return r
	}
	most := make([]audit.Record, policy.MaxGlobalSidecars-1)
	for i := range most {
		most[i] = refusal(i)
	}
	body := encodeBatch("s-1", most...)
	for range 2 {
		post(t, srv.URL, acmeToken, body, true) // the second is a duplicate, answered as stored
	}
	if got := post(t, srv.URL, acmeToken, encodeBatch("s-2", refusal(len(most))), false); got != 200 {
		t.Fatalf("the 1,000th full fold of the second: status %d, want 200", got)
	}
	var requests int64
	for _, r := range storedRecords(t, dir) {
		requests += r.Requests()
		if slices.Contains(r.Flags, FlagCountPastSenderCeiling) {
			t.Errorf("record %s stored flagged %s: the duplicate batch was summed", r.RequestID, FlagCountPastSenderCeiling)
		}
	}
	if want := int64(MaxSenderRequestsPerSecond); requests != want {
		t.Errorf("stored records stand for %d requests, want %d (the duplicate stored once)", requests, want)
	}
}
