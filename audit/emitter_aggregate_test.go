package audit

import (
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// The flood of issue 21 item 10 through a real emitter, spool and
// collector: while the collector is unreachable, 30,000 denials without a
// credential from three addresses fill the spool past half, then 200
// records of a real caller arrive. None of the real records is dropped;
// once the collector is back, the stored denials add up exactly (count)
// to the 30,000, with one aggregated record per source, route, reason and
// second, and no credentialed record is aggregated.
func TestSpoolFloodAggregated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	col, err := NewCollector(st, CollectorConfig{Token: aliceToken})
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
	cfg := fastConfig(gate.URL, t.TempDir())
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
		r.SetMethod([]byte("GET"))
		r.SetPath([]byte("/v1/users"))
		emit(&r)
	}
	for i := range real {
		r := sampleRecord(i)
		r.Time, r.Status, r.Decision = time.Now().UnixNano(), 401, Unauthenticated // a wrong key is still a credential
		r.SetRequestID([]byte("real-" + itoa(i)))
		emit(&r)
	}
	// Groups stay open until their second is over (and a grace period).
	waitFor(t, "everything captured to reach the spool", func() bool {
		s := e.Stats()
		return s.Spooled+s.Aggregated+s.DroppedSpool >= flood+real
	})
	if s := e.Stats(); s.DroppedSpool != 0 || s.Aggregated == 0 {
		t.Fatalf("while the collector was down: %+v; want nothing dropped and denials aggregated", s)
	}
	up.Store(true)
	e.Close()
	if s := e.Stats(); s.DroppedSpool != 0 || s.Rejected != 0 || s.Delivered+s.Replayed+s.Aggregated != flood+real {
		t.Errorf("after close: %+v", s)
	}
	type group struct {
		src, route, decision string
		sec                  int64
	}
	seen := map[group]bool{}
	var denials int64
	realSeen := 0
	for _, r := range storedRecords(t, dir) {
		if r.KeyID != "" {
			realSeen++
			if r.Count != 0 {
				t.Errorf("credentialed record %s aggregated (count %d)", r.RequestID, r.Count)
			}
			continue
		}
		denials += max(r.Count, 1)
		if r.Count > 1 {
			g := group{r.SourceIP, r.Route, r.Decision, r.Time.Unix()}
			if seen[g] {
				t.Errorf("two aggregated records for %+v", g)
			}
			seen[g] = true
		}
	}
	if denials != flood || realSeen != real {
		t.Errorf("stored denials add up to %d, want %d; real records %d, want %d", denials, flood, realSeen, real)
	}
}

// A denial is folded when no identity was established, whatever
// credential header it carried; a verified key or token never is.
func TestFoldableNeedsNoIdentity(t *testing.T) {
	t.Parallel()
	denial := func(edit func(r *Record)) *Record {
		r := &Record{Decision: Unauthenticated, Status: 401, SourceIP: netip.MustParseAddr("198.51.100.1"), Route: "/v1/users"}
		edit(r)
		return r
	}
	for _, tc := range []struct {
		name string
		rec  *Record
		want bool
	}{
		{"no credential", denial(func(r *Record) {}), true},
		{"unverified api key", denial(func(r *Record) { r.AuthMethod = AuthAPIKey; r.SetKeyID([]byte("zzz")) }), true},
		{"unverified bearer", denial(func(r *Record) { r.AuthMethod = AuthJWT }), true},
		{"no route", denial(func(r *Record) { r.Decision, r.Route = NoRoute, "" }), true},
		{"verified key, suspended client", denial(func(r *Record) {
			r.Decision, r.AuthMethod, r.Tenant, r.Client = Suspended, AuthAPIKey, "acme", "crm-sync"
			r.SetKeyID([]byte("key_01"))
		}), false},
		{"verified key, rate limited", denial(func(r *Record) {
			r.Decision, r.AuthMethod, r.Tenant, r.Client = RateLimited, AuthAPIKey, "acme", "crm-sync"
		}), false},
		{"verified token of an unknown client", denial(func(r *Record) {
			r.AuthMethod, r.Issuer, r.TokenFingerprint = AuthJWT, "idp", [16]byte{1}
		}), false},
		{"allowed", denial(func(r *Record) { r.Decision, r.Status = Allowed, 200 }), false},
	} {
		if got := foldable(tc.rec); got != tc.want {
			t.Errorf("foldable(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// An aggregated record names the key id and auth method only when every
// request it counts presented the same ones.
func TestAggregateKeepsOnlySharedKeyID(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).UnixNano()
	denial := func(src string, m AuthMethod, id string) *Record {
		r := &Record{Time: at, Decision: Unauthenticated, Status: 401, SourceIP: netip.MustParseAddr(src), Route: "/v1/users", AuthMethod: m}
		r.SetKeyID([]byte(id))
		return r
	}
	var a aggregator
	for _, r := range []*Record{
		denial("198.51.100.1", AuthAPIKey, "revoked"), denial("198.51.100.1", AuthAPIKey, "revoked"),
		denial("198.51.100.2", AuthAPIKey, "k1"), denial("198.51.100.2", AuthAPIKey, "k2"),
		denial("198.51.100.3", AuthAPIKey, "k1"), denial("198.51.100.3", AuthJWT, ""),
	} {
		a.add(r)
	}
	type got struct {
		method AuthMethod
		keyID  string
		count  uint32
	}
	out := map[string]got{}
	a.flush(math.MaxInt64, func(r *Record) { out[r.SourceIP.String()] = got{r.AuthMethod, string(r.KeyID()), r.Count} })
	want := map[string]got{
		"198.51.100.1": {AuthAPIKey, "revoked", 2},
		"198.51.100.2": {AuthAPIKey, "", 2},
		"198.51.100.3": {AuthNone, "", 2},
	}
	for src, w := range want {
		if out[src] != w {
			t.Errorf("aggregated record of %s = %+v, want %+v", src, out[src], w)
		}
	}
}
