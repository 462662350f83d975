package audit_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// The test in this file is a finding of an outside attack on the merged
// fixes of issue 21; it failed on the code it was written against.

// Finding: the spool aggregation of issue 21 item 10 folds only denials
// that carry no credential at all, so the flood it was built against
// passes unfolded once each request adds any credential header: the data
// plane records "X-API-Key: pk_zzz_x" as auth_method api_key (with a key
// id when the key is well formed) and "Authorization: Bearer junk" as
// auth_method jwt, though neither verified (checked with bin/portcullis
// and --audit-file). 30,000 such 401s while the collector is down fill
// the spool, and the records of a real, authenticated caller that follow
// are dropped.
func TestAttackSpoolFloodWithBogusCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(st, collector.Config{Token: aliceToken})
	if err != nil {
		t.Fatal(err)
	}
	var up atomic.Bool
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		col.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { gate.Close(); st.Close() })
	cfg := FastConfig(gate.URL, t.TempDir())
	cfg.Token, cfg.SpoolMaxBytes, cfg.CloseTimeout = aliceToken, 512<<10, time.Minute
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	emit := func(r *Record) {
		for !e.Emit(r) {
			time.Sleep(time.Millisecond)
		}
	}
	const flood, real = 30_000, 200
	srcs := []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("2001:db8::3")}
	for i := range flood {
		var r Record
		r.Time, r.Status, r.Decision, r.SourceIP, r.Route = time.Now().UnixNano(), 401, Unauthenticated, srcs[i%3], "/v1/users"
		r.AuthMethod = AuthAPIKey // "X-API-Key: pk_<i>_x": parsed, never verified
		r.SetKeyID([]byte(strconv.Itoa(i)))
		r.SetMethod([]byte("GET"))
		r.SetPath([]byte("/v1/users"))
		emit(&r)
	}
	for i := range real {
		r := SampleRecord(i) // an authenticated caller, allowed
		r.Time = time.Now().UnixNano()
		r.SetRequestID([]byte("real-" + strconv.Itoa(i)))
		emit(&r)
	}
	WaitFor(t, "everything captured to reach the spool", func() bool {
		s := e.Stats()
		return s.Spooled+s.Aggregated+s.DroppedSpool >= flood+real
	})
	if s := e.Stats(); s.DroppedSpool != 0 {
		t.Errorf("a flood of 401s with bogus API keys while the collector was down: %+v; want no record dropped (the flood folded)", s)
	}
	up.Store(true)
	e.Close()
	got := 0
	for _, r := range storedRecords(t, dir) {
		if strings.HasPrefix(r.RequestID, "real-") {
			got++
		}
	}
	if got != real {
		t.Errorf("records of the authenticated caller stored: %d, want %d", got, real)
	}
}
