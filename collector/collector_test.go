package collector

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"github.com/portcullis/portcullis/audit"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testToken = "test-token-0123456789abcdef0123456789"

func newTestKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// startCollector serves a real Collector over loopback HTTP on a Store in dir.
func startCollector(t testing.TB, dir string, key ed25519.PrivateKey, cfg StoreConfig) (*httptest.Server, *Store) {
	t.Helper()
	cfg.SigningKey = key
	st, err := OpenStore(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(st, Config{Token: testToken, MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	t.Cleanup(func() { srv.Close(); st.Close() })
	return srv, st
}

func storedRecords(t testing.TB, dir string) []StoredRecord {
	t.Helper()
	var out []StoredRecord
	if err := QueryRecords(dir, Filter{}, func(r *StoredRecord) error { out = append(out, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEmitterToCollector(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := newTestKey(t)
	srv, st := startCollector(t, dir, key, StoreConfig{SegmentMaxBytes: 64 << 10})
	cfg := fastConfig(srv.URL, t.TempDir())
	cfg.Token = testToken
	e, err := audit.NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	want := map[string]StoredRecord{}
	for i := range n {
		r := sampleRecord(i)
		r.SetRequestID([]byte("req-" + itoa(i)))
		r.Status = uint16(200 + i%5)
		r.ClientCut = i%7 == 3       // a response the client's connection failed to take whole travels as "cut"
		r.ClientRequestID = i%5 == 1 // a request id the client sent travels as "request_id_source"
		r.Time = time.Now().UnixNano()
		w := Stored(&r)
		if r.ClientCut && w.Cut != audit.CutClient {
			t.Fatalf("Stored of a record the client cut: cut %q, want %q", w.Cut, audit.CutClient)
		}
		if src := map[bool]IDSource{true: IDFromClient}[r.ClientRequestID]; w.RequestIDSource != src {
			t.Fatalf("Stored of a record with ClientRequestID %v: request_id_source %q, want %q", r.ClientRequestID, w.RequestIDSource, src)
		}
		w.Sender = "token:default"
		want["req-"+itoa(i)] = w
		for !e.Emit(&r) {
			time.Sleep(time.Millisecond)
		}
	}
	e.Close()
	if es := e.Stats(); es.Delivered+es.Replayed != n || es.Dropped != 0 {
		t.Errorf("emitter stats %+v", es)
	}
	st.Close()
	got := storedRecords(t, dir)
	if len(got) != n {
		t.Fatalf("stored %d records, want %d", len(got), n)
	}
	for _, g := range got {
		w, ok := want[g.RequestID]
		if !ok {
			t.Fatalf("unexpected or duplicate record %q", g.RequestID)
		}
		delete(want, g.RequestID)
		if gj, wj := string(g.AppendJSON(nil)), string(w.AppendJSON(nil)); gj != wj {
			t.Fatalf("stored record differs:\n got %s\nwant %s", gj, wj)
		}
	}
	rep, err := Verify(dir, key.Public().(ed25519.PublicKey))
	if err != nil || !rep.OK() || rep.Records != n || rep.Segments < 2 {
		t.Errorf("verify: err %v report %+v", err, rep)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestCollectorRejects(t *testing.T) {
	t.Parallel()
	srv, _ := startCollector(t, t.TempDir(), newTestKey(t), StoreConfig{})
	big := bytes.Repeat([]byte{'x'}, 2<<20)
	cases := []struct {
		name, token, ctype string
		body               []byte
		status             int
		code               string
	}{
		{"no token", "", FormatProtobuf, nil, 401, "unauthenticated"},
		{"wrong token", "nope", FormatProtobuf, nil, 401, "unauthenticated"},
		{"content type", testToken, "text/plain", nil, 415, "unsupported_media_type"},
		{"malformed protobuf", testToken, FormatProtobuf, []byte{0xff, 0xff, 0xff}, 400, "malformed_batch"},
		{"malformed json", testToken, FormatJSON, []byte(`{"resourceLogs":7}`), 400, "malformed_batch"},
		{"oversized", testToken, FormatProtobuf, big, 413, "batch_too_large"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(c.body))
		req.Header.Set("Content-Type", c.ctype)
		req.Header.Set("X-Request-ID", "rid-1")
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != c.status || body["error"] != c.code || body["request_id"] != "rid-1" || body["message"] == "" {
			t.Errorf("%s: got %d %v, want %d error %q", c.name, resp.StatusCode, body, c.status, c.code)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`reason="unauthenticated"} 2`, `reason="too_large"} 1`, `reason="malformed"} 2`, "portcullis_collector_batches_total 0"} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}

func TestStoreDedupAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := newTestKey(t)
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	r := sampleRecord(1)
	b := &Batch{ID: "inst-1", Records: []StoredRecord{Stored(&r)}}
	if err := st.AppendBatch(b); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AppendBatch(b); err == nil {
		t.Fatal("duplicate batch stored again after restart")
	}
	if err := st.AppendEvents([]Event{{Time: time.Unix(1700000000, 0).UTC(), Actor: "alice", Action: "key.revoke", Target: "key_01", Reason: "leaked", Ticket: "SEC-1"}}); err != nil {
		t.Fatal(err)
	}
	var evs []Event
	QueryEvents(dir, time.Time{}, time.Time{}, func(e *Event) error { evs = append(evs, *e); return nil })
	if len(evs) != 1 || evs[0].Actor != "alice" || evs[0].Ticket != "SEC-1" {
		t.Errorf("events: got %+v", evs)
	}
	if got := len(storedRecords(t, dir)); got != 1 {
		t.Errorf("stored %d records, want 1", got)
	}
	rep, _ := Verify(dir, key.Public().(ed25519.PublicKey))
	if !rep.OK() || rep.Events != 1 || rep.Batches != 1 {
		t.Errorf("verify %+v", rep)
	}
}

func TestStoreRetention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := newTestKey(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st, err := OpenStore(dir, StoreConfig{SigningKey: key, Retention: 24 * time.Hour, SegmentMaxAge: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 5 {
		r := sampleRecord(i)
		if err := st.AppendBatch(&Batch{ID: "b" + itoa(i), Records: []StoredRecord{Stored(&r)}}); err != nil {
			t.Fatal(err)
		}
		now = now.Add(2 * time.Hour) // each batch lands in its own segment
	}
	now = now.Add(24*time.Hour - 5*time.Hour)
	if err := st.Maintain(now); err != nil {
		t.Fatal(err)
	}
	if got := st.Stats().Expired; got != 2 {
		t.Errorf("expired %d segments, want 2", got)
	}
	rep, err := Verify(dir, key.Public().(ed25519.PublicKey))
	if err != nil || !rep.OK() || rep.Expired != 2 || rep.Batches != 3 {
		t.Errorf("verify after retention: %v %+v", err, rep)
	}
}
