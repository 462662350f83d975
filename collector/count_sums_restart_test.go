package collector

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// fullFold is a client's limit refusal folded to audit.MaxFoldCount,
// dated at.
func fullFold(at time.Time) StoredRecord {
	return StoredRecord{Time: at, Tenant: "acme", Client: "acme-crm", Route: "/v1/users", Status: 429, Decision: "rate_limited", Limit: "key", Count: audit.MaxFoldCount}
}

// sumFlags returns what the records of dir stand for and how many are
// flagged each way.
func sumFlags(t *testing.T, dir string) (requests int64, flagged map[string]int) {
	t.Helper()
	flagged = map[string]int{}
	for _, r := range storedRecords(t, dir) {
		requests += r.Requests()
		for _, f := range r.Flags {
			flagged[f]++
		}
	}
	return requests, flagged
}

// TestSenderSumsSurviveRestart: a sender's sums by second were kept in
// memory only, so after a restart its second started again and one more
// full fold of a second already at the ceiling was believed (up to twice
// the ceiling across a restart). Recovery now sums the counts of the
// batches stored in the window again, over real files and loopback: the
// fold sent after the restart is stored flagged count_past_sender_ceiling.
// Only the batches stored within ceilingSeconds of the store's last time
// are decoded for it: one stored two hours before is not read.
func TestSenderSumsSurviveRestart(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	var clock atomic.Int64
	now := time.Now()
	clock.Store(now.Add(-2 * time.Hour).UnixNano())
	cfg := StoreConfig{Now: func() time.Time { return time.Unix(0, clock.Load()) }}
	sec := now.Truncate(time.Second).UnixNano()
	refusal := func(i int) audit.Record {
		r := tenantRecord(i, "acme")
		r.Client, r.Status, r.Decision, r.Limit, r.Count, r.Time = "acme-crm", 429, audit.RateLimited, audit.LimitKey, audit.MaxFoldCount, sec
		return r
	}
	srv, st := startCollector(t, dir, key, cfg)
	old := refusal(0)
	old.Time = now.Add(-2 * time.Hour).UnixNano()
	if got := post(t, srv.URL, testToken, encodeBatch("s-1", old), false); got != 200 {
		t.Fatalf("a fold two hours before: status %d, want 200", got)
	}
	clock.Store(now.UnixNano())
	full := make([]audit.Record, policy.MaxGlobalSidecars)
	for i := range full {
		full[i] = refusal(i + 1)
	}
	if got := post(t, srv.URL, testToken, encodeBatch("s-2", full...), true); got != 200 {
		t.Fatalf("the sender's %d full folds of one second: status %d, want 200", len(full), got)
	}
	if got := post(t, srv.URL, testToken, encodeBatch("s-2b", tenantRecord(0, "acme")), false); got != 200 {
		t.Fatalf("a batch of one record, no count: status %d, want 200", got)
	}
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	srv, st = startCollector(t, dir, key, cfg)
	if st.sumsRead != 1 {
		t.Errorf("recovery summed the counts of %d batch entries again, want 1 (the one of folds within the window, not the one two hours before, nor the one with no count, which it need not decode)", st.sumsRead)
	}
	if got := post(t, srv.URL, testToken, encodeBatch("s-3", refusal(len(full)+1)), false); got != 200 {
		t.Fatalf("one more full fold of the second after the restart: status %d, want 200 (stored, counted one)", got)
	}
	requests, flagged := sumFlags(t, dir)
	if want := int64(MaxSenderRequestsPerSecond + audit.MaxFoldCount + 2); requests != want || flagged[FlagCountPastSenderCeiling] != 1 {
		t.Errorf("stored records stand for %d requests, flagged %v; want %d (the ceiling, the fold two hours before, the record with no count, one), one flagged %s",
			requests, flagged, want, FlagCountPastSenderCeiling)
	}
}

// TestForgottenCertSenderSumsKept: a certificate sender idle past
// SenderIdle was forgotten with its sums by second, and coming back had
// a second already at the ceiling believed up to it again. It is now
// kept while a record received could still be charged to those seconds
// (secondSums.heldAt), and forgotten once it cannot.
func TestForgottenCertSenderSumsKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var clock atomic.Int64
	start := time.Now().Truncate(time.Second)
	clock.Store(start.UnixNano())
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t), SenderIdle: time.Minute, MaxCertSenders: 8,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	store := func(b *Batch) {
		t.Helper()
		if err := st.AppendBatch(b); err != nil {
			t.Fatalf("batch %s of %s: %v", b.ID, b.Sender, err)
		}
	}
	var full []StoredRecord
	for range policy.MaxGlobalSidecars {
		full = append(full, fullFold(start))
	}
	store(&Batch{ID: "a-1", Sender: "cert:pod-1", Records: full})
	clock.Add(int64(2 * time.Minute)) // pod-1 idle past SenderIdle
	store(&Batch{ID: "b-1", Sender: "cert:pod-2", Records: []StoredRecord{{Time: start, Tenant: "acme", Decision: "allowed", Status: 200}}})
	store(&Batch{ID: "a-2", Sender: "cert:pod-1", Records: []StoredRecord{fullFold(start)}})
	requests, flagged := sumFlags(t, dir)
	if want := int64(MaxSenderRequestsPerSecond + 2); requests != want || flagged[FlagCountPastSenderCeiling] != 1 {
		t.Errorf("stored records stand for %d requests, flagged %v; want %d (the ceiling, pod-2's one, pod-1's fold after it came back one), one flagged %s",
			requests, flagged, want, FlagCountPastSenderCeiling)
	}
	clock.Add(int64((ceilingSeconds + 60) * time.Second)) // its sums of no use now
	store(&Batch{ID: "b-2", Sender: "cert:pod-2", Records: []StoredRecord{{Time: start, Tenant: "acme", Decision: "allowed", Status: 200}}})
	if st.seen.senders["cert:pod-1"] != nil {
		t.Errorf("pod-1 still held %s after its last batch: want it forgotten once its sums are of no use", time.Duration(ceilingSeconds+62)*time.Second)
	}
	if st.seen.certs != 1 {
		t.Errorf("%d certificate senders live, want 1 (pod-2)", st.seen.certs)
	}
}

// TestSecondBeforeRestartHorizonNotBelievedAgain: recovery sums again the
// counts of the batches stored in the ceilingSeconds before the store
// last stored (sumsHorizon), so a second before that horizon, still in
// its sender's window (the sender's newest counts older than the
// store's last batch), started again from nothing after a restart, and a
// fold of it dated 70 minutes before it arrived was believed past a
// second already at the ceiling. A count of a second before the horizon
// is now flagged count_outside_sender_window after a restart: its sum
// was not summed again, so it cannot be summed afresh. Over real files
// and loopback.
func TestSecondBeforeRestartHorizonNotBelievedAgain(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	var clock atomic.Int64
	start := time.Now().Truncate(time.Second)
	clock.Store(start.UnixNano())
	cfg := StoreConfig{Now: func() time.Time { return time.Unix(0, clock.Load()) }}
	refusal := func(i int) audit.Record {
		r := tenantRecord(i, "acme")
		r.Client, r.Status, r.Decision, r.Limit, r.Count, r.Time = "acme-crm", 429, audit.RateLimited, audit.LimitKey, audit.MaxFoldCount, start.UnixNano()
		return r
	}
	srv, st := startCollector(t, dir, key, cfg)
	full := make([]audit.Record, policy.MaxGlobalSidecars)
	for i := range full {
		full[i] = refusal(i)
	}
	if got := post(t, srv.URL, testToken, encodeBatch("s-1", full...), true); got != 200 {
		t.Fatalf("the sender's %d full folds of one second: status %d, want 200", len(full), got)
	}
	clock.Add(int64(70 * time.Minute)) // the second still in the sender's window: its newest
	if got := post(t, srv.URL, testToken, encodeBatch("s-2", tenantRecord(0, "acme")), false); got != 200 {
		t.Fatalf("a batch of one record, no count, 70 minutes on: status %d, want 200", got)
	}
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	srv, _ = startCollector(t, dir, key, cfg)
	if got := post(t, srv.URL, testToken, encodeBatch("s-3", refusal(len(full))), false); got != 200 {
		t.Fatalf("one more full fold of the second after the restart: status %d, want 200 (stored, counted one)", got)
	}
	requests, flagged := sumFlags(t, dir)
	if want := int64(MaxSenderRequestsPerSecond + 2); requests != want || flagged[FlagCountOutsideSenderWindow] != 1 {
		t.Errorf("stored records stand for %d requests, flagged %v; want %d (the ceiling, the record with no count, the fold after the restart one), one flagged %s",
			requests, flagged, want, FlagCountOutsideSenderWindow)
	}
}

// TestCertSenderWithCountsHoldsItsPlace pins a bound, documented in
// docs/audit.md: a certificate sender that sent a count is forgotten at
// --cert-sender-idle after its last batch or 4,096 s after the newest
// second it summed, whichever is later (TestForgottenCertSenderSumsKept),
// so with an idle time below 68 minutes it holds its --max-cert-senders
// place longer than that, and a new sender is refused ErrTooManySenders
// meanwhile (the sidecar keeps the batch); one that sent no count is
// forgotten at the idle time.
func TestCertSenderWithCountsHoldsItsPlace(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64
	start := time.Now().Truncate(time.Second)
	clock.Store(start.UnixNano())
	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t), SenderIdle: time.Minute, MaxCertSenders: 1,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	plain := []StoredRecord{{Time: start, Tenant: "acme", Decision: "allowed", Status: 200}}
	if err := st.AppendBatch(&Batch{ID: "a-1", Sender: "cert:pod-1", Records: plain}); err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(2 * time.Minute))
	if err := st.AppendBatch(&Batch{ID: "b-1", Sender: "cert:pod-2", Records: []StoredRecord{fullFold(time.Unix(0, clock.Load()))}}); err != nil {
		t.Fatalf("pod-2 after pod-1, with no count, was idle past SenderIdle: %v, want it stored", err)
	}
	clock.Add(int64(2 * time.Minute))
	if err := st.AppendBatch(&Batch{ID: "c-1", Sender: "cert:pod-3", Records: plain}); !errors.Is(err, ErrTooManySenders) {
		t.Fatalf("pod-3 while pod-2's sums can be charged: %v, want %v", err, ErrTooManySenders)
	}
	clock.Add(int64(ceilingSeconds * time.Second))
	if err := st.AppendBatch(&Batch{ID: "c-2", Sender: "cert:pod-3", Records: plain}); err != nil {
		t.Fatalf("pod-3 once pod-2's sums are of no use: %v, want it stored", err)
	}
}
