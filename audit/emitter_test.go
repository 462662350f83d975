package audit

import (
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
	records []StoredRecord
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
	b, err := DecodeBatch(body, r.Header.Get("Content-Type"))
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

// waitFor polls cond until it holds or the deadline passes. The emitter
// delivers from its own goroutines over real HTTP, so the test waits on the
// outcome rather than sleeping a fixed time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fastConfig(url, spool string) EmitterConfig {
	return EmitterConfig{URL: url, SpoolDir: spool, BatchSize: 64, FlushInterval: 20 * time.Millisecond,
		Slots: 4096, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		RetryBudget: 30 * time.Millisecond, Service: "svc", Host: "h1", InstanceID: "inst"}
}

func TestEmitterDeliversFields(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	e, err := NewEmitter(fastConfig(s.srv.URL, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	for i := range n {
		r := sampleRecord(i)
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
	r0 := sampleRecord(0)
	r0.TokenFingerprint = [16]byte{1, 2, 3}
	r0.SetPath([]byte("/p\xff\"a"))
	want := r0.Stored()
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
	e1, err := NewEmitter(fastConfig(s.srv.URL, dir))
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	emitN(t, e1, n)
	e1.Close()
	st1 := e1.Stats()
	if st1.Spooled != n || st1.Delivered != 0 || st1.SpoolRecords != n {
		t.Fatalf("first emitter stats %+v, want all %d spooled", st1, n)
	}
	s.down.Store(false)
	cfg := fastConfig(s.srv.URL, dir)
	cfg.InstanceID = "inst2"
	e2, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	emitN(t, e2, n)
	waitFor(t, "replay", func() bool { return s.count() == 2*n })
	e2.Close()
	st2 := e2.Stats()
	if st2.Replayed != n+st2.Spooled || st2.Delivered+st2.Spooled != n || st2.SpoolFiles != 0 {
		t.Errorf("second emitter stats %+v", st2)
	}
	if s.dups != 0 || s.count() != 2*n {
		t.Errorf("sink has %d records, %d duplicates; want %d, 0", s.count(), s.dups, 2*n)
	}
}

func emitN(t *testing.T, e *Emitter, n int) {
	t.Helper()
	for i := range n {
		r := sampleRecord(i)
		for !e.Emit(&r) {
			time.Sleep(time.Millisecond)
		}
	}
}

func TestEmitterStrictSpoolFull(t *testing.T) {
	t.Parallel()
	s := newSink(t)
	s.down.Store(true)
	cfg := fastConfig(s.srv.URL, t.TempDir())
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
		r := sampleRecord(i)
		e.Emit(&r)
		if i%64 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if e.Accepting() {
		t.Fatalf("still accepting with a full spool: %+v", e.Stats())
	}
	s.down.Store(false)
	waitFor(t, "accepting again", e.Accepting)
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
	cfg := fastConfig(s.srv.URL, t.TempDir())
	cfg.SpoolMaxBytes = 20 << 10
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	emitN(t, e, 2000)
	e.Close()
	st := e.Stats()
	if st.DroppedSpool == 0 || st.Spooled+st.DroppedSpool != st.Captured || st.Dropped != st.DroppedSpool+st.DroppedFull {
		t.Errorf("stats %+v: want drops and captured = spooled + dropped", st)
	}
}
