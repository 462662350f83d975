package audit_test

import (
	"crypto/ed25519"
	"crypto/rand"
	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sink is a minimal OTLP receiver over loopback that decodes every batch
// with DecodeBatch; down makes it answer 503.
type sink struct {
	srv     *httptest.Server
	down    atomic.Bool
	mu      sync.Mutex
	batches map[string]int
	records []collector.StoredRecord
	dups    int
}

func newSink(t testing.TB) *sink {
	t.Helper()
	s := &sink{batches: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) serve(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	b, err := collector.DecodeBatch(body, r.Header.Get("Content-Type"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches[b.ID]++
	if s.batches[b.ID] > 1 {
		s.dups++
		return
	}
	s.records = append(s.records, b.Records...)
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

func TestEmitterDeliversFields(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	e, err := NewEmitter(FastConfig(s.srv.URL, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		r := SampleRecord(i)
		r.TokenFingerprint = [16]byte{1, 2, 3}
		r.SetPath([]byte("/p\xff\"" + string(rune('a'+i%26))))
		for !e.Emit(&r) {
			time.Sleep(time.Millisecond)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	st := e.Stats()
	if st.Captured != n || st.Delivered+st.Replayed != n || st.Spooled != st.Replayed || st.Dropped != 0 {
		t.Errorf("stats %+v, want %d captured and delivered or replayed", st, n)
	}
	if got := s.count(); got != n {
		t.Fatalf("sink got %d records, want %d", got, n)
	}
	r0 := SampleRecord(0)
	r0.TokenFingerprint = [16]byte{1, 2, 3}
	r0.SetPath([]byte("/p\xff\"a"))
	want := collector.Stored(&r0)
	want.Path = "/p\uFFFD\"a"
	if got := s.records[0]; got.Time != want.Time || got.Path != want.Path || got.Status != want.Status ||
		got.Tenant != want.Tenant || got.KeyID != want.KeyID || got.TokenFingerprint != want.TokenFingerprint ||
		got.SourceIP != want.SourceIP || got.DurationUS != want.DurationUS || got.UserAgent != want.UserAgent ||
		got.Decision != want.Decision || got.AuthMethod != want.AuthMethod || got.BytesOut != want.BytesOut ||
		got.PolicyRevision != want.PolicyRevision || got.RequestID != want.RequestID || got.Route != want.Route ||
		got.Method != want.Method || len(got.Attributes) != 0 {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestEmitterSpoolsAndReplaysAcrossRestart(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	s.down.Store(true)
	dir := t.TempDir()
	e1, err := NewEmitter(FastConfig(s.srv.URL, dir))
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	EmitN(t, e1, n)
	e1.Close()
	st1 := e1.Stats()
	if st1.Spooled != n || st1.Delivered != 0 || st1.SpoolRecords != n {
		t.Fatalf("first emitter stats %+v, want all %d spooled", st1, n)
	}
	s.down.Store(false)
	cfg := FastConfig(s.srv.URL, dir)
	cfg.InstanceID = "inst2"
	e2, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	EmitN(t, e2, n)
	WaitFor(t, "replay", func() bool { return s.count() == 2*n })
	e2.Close()
	st2 := e2.Stats()
	if st2.Replayed != n+st2.Spooled || st2.Delivered+st2.Spooled != n || st2.SpoolFiles != 0 {
		t.Errorf("second emitter stats %+v", st2)
	}
	if s.dups != 0 || s.count() != 2*n {
		t.Errorf("sink has %d records, %d duplicates; want %d, 0", s.count(), s.dups, 2*n)
	}
}

func TestEmitterStrictSpoolFull(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	s.down.Store(true)
	cfg := FastConfig(s.srv.URL, t.TempDir())
	cfg.Mode = Strict
	cfg.SpoolMaxBytes = 100 << 10
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Accepting() {
		t.Fatal("Accepting false on a fresh emitter")
	}
	for i := 0; e.Accepting() && i < 100000; i++ {
		r := SampleRecord(i)
		e.Emit(&r)
		if i%64 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if e.Accepting() {
		t.Fatalf("still accepting with a full spool: %+v", e.Stats())
	}
	s.down.Store(false)
	WaitFor(t, "accepting again", e.Accepting)
	e.Close()
	st := e.Stats()
	if st.DroppedSpool != 0 || st.Rejected != 0 {
		t.Errorf("strict mode lost records: %+v", st)
	}
	if got := uint64(s.count()); got != st.Captured {
		t.Errorf("sink has %d records, captured %d (%+v)", got, st.Captured, st)
	}
}

func TestEmitterBestEffortDropsWhenSpoolFull(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	s.down.Store(true)
	cfg := FastConfig(s.srv.URL, t.TempDir())
	cfg.SpoolMaxBytes = 20 << 10
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	EmitN(t, e, 2000)
	e.Close()
	st := e.Stats()
	if st.DroppedSpool == 0 || st.Spooled+st.DroppedSpool != st.Captured || st.Dropped != st.DroppedSpool+st.DroppedFull {
		t.Errorf("stats %+v: want drops and captured = spooled + dropped", st)
	}
}

// The collector side of the tests that run the emitter against a real
// collector (the collector's own tests have the same helpers).

const (
	testToken  = "test-token-0123456789abcdef0123456789"
	aliceToken = "alice-token-0123456789abcdef0123456789"
)

func newTestKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// startCollector serves a real Collector over loopback HTTP on a Store in dir.
func startCollector(t testing.TB, dir string, key ed25519.PrivateKey, cfg collector.StoreConfig) (*httptest.Server, *collector.Store) {
	t.Helper()
	cfg.SigningKey = key
	st, err := collector.OpenStore(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(st, collector.Config{Token: testToken, MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	t.Cleanup(func() { srv.Close(); st.Close() })
	return srv, st
}

func storedRecords(t testing.TB, dir string) []collector.StoredRecord {
	t.Helper()
	var out []collector.StoredRecord
	if err := collector.QueryRecords(dir, collector.Filter{}, func(r *collector.StoredRecord) error { out = append(out, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}
