package audit

import (
	"math"
	"net/netip"
	"testing"
	"time"
)

// A denial is folded when no identity was established, whatever
// credential header it carried; a verified key or token's only when it is
// its own limit refusal.
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
		{"verified key, rate limited", denial(func(r *Record) { // its own limit: TestClientRateLimitFloodFolded
			r.Decision, r.Limit, r.Status, r.AuthMethod, r.Tenant, r.Client = RateLimited, LimitKey, 429, AuthAPIKey, "acme", "crm-sync"
		}), true},
		{"verified key, concurrency limited", denial(func(r *Record) {
			r.Decision, r.Limit, r.Status, r.AuthMethod, r.Tenant, r.Client = ConcurrencyLimited, LimitTenantInFlight, 429, AuthAPIKey, "acme", "crm-sync"
		}), true},
		{"verified key, rate limited by an in-flight cap", denial(func(r *Record) { // no such refusal: TestClientCountOnlyWithItsLimit
			r.Decision, r.Limit, r.Status, r.AuthMethod, r.Tenant, r.Client = RateLimited, LimitConcurrency, 429, AuthAPIKey, "acme", "crm-sync"
		}), false},
		{"verified key, rate limited by no limit", denial(func(r *Record) {
			r.Decision, r.Limit, r.Status, r.AuthMethod, r.Tenant, r.Client = RateLimited, NoLimit, 429, AuthAPIKey, "acme", "crm-sync"
		}), false},
		{"verified key, concurrency limited by a bucket", denial(func(r *Record) {
			r.Decision, r.Limit, r.Status, r.AuthMethod, r.Tenant, r.Client = ConcurrencyLimited, LimitClass, 429, AuthAPIKey, "acme", "crm-sync"
		}), false},
		{"verified key, rate limited, connection cut before the 429 left", denial(func(r *Record) { // TestClientFoldAgreesWithCollector
			r.Decision, r.Limit, r.Status, r.AuthMethod, r.Tenant, r.Client = RateLimited, LimitKey, 0, AuthAPIKey, "acme", "crm-sync"
		}), false},
		{"verified key, forbidden", denial(func(r *Record) {
			r.Decision, r.AuthMethod, r.Tenant, r.Client = Forbidden, AuthAPIKey, "acme", "crm-sync"
		}), false},
		{"verified key, allowed", denial(func(r *Record) {
			r.Decision, r.Status, r.AuthMethod, r.Tenant, r.Client = Allowed, 200, AuthAPIKey, "acme", "crm-sync"
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

// An aggregated record names the path, method and user agent only when
// every request it counts shared them ("*" for path and method, no user
// agent otherwise), and its bytes are the sum of theirs. Before, it
// carried the first request's: one GET of /index.html followed, in the
// same second, by DELETEs of /admin/delete-all (no route, unauthenticated)
// was stored as five GETs of /index.html, hiding the probes of a
// privileged path from an auditor.
func TestAggregateKeepsOnlySharedPathAndMethod(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).UnixNano()
	denial := func(src, method, path, ua string) *Record {
		r := &Record{Time: at, Decision: NoRoute, Status: 404, SourceIP: netip.MustParseAddr(src), BytesIn: 10, BytesOut: 100}
		r.SetMethod([]byte(method))
		r.SetPath([]byte(path))
		r.SetUserAgent([]byte(ua))
		return r
	}
	var a aggregator
	a.add(denial("198.51.100.1", "GET", "/index.html", "browser"))
	for range 4 {
		a.add(denial("198.51.100.1", "DELETE", "/admin/delete-all", "scanner"))
	}
	for range 3 {
		a.add(denial("198.51.100.2", "GET", "/robots.txt", "bot"))
	}
	type got struct {
		method, path, ua  string
		count             uint32
		bytesIn, bytesOut int64
	}
	out := map[string]got{}
	a.flush(math.MaxInt64, func(r *Record) {
		out[r.SourceIP.String()] = got{string(r.Method()), string(r.Path()), string(r.UserAgent()), r.Count, r.BytesIn, r.BytesOut}
	})
	want := map[string]got{
		"198.51.100.1": {"*", "*", "", 5, 50, 500},
		"198.51.100.2": {"GET", "/robots.txt", "bot", 3, 30, 300},
	}
	for src, w := range want {
		if out[src] != w {
			t.Errorf("aggregated record of %s = %+v, want %+v", src, out[src], w)
		}
	}
}

// A verified client's limit refusals fold by who was refused and by
// which limit: two keys of one client, its two limits and another
// client of the tenant make four groups in one second, each naming its
// client, tenant, key id and limit; a group of one /64 keeps the source,
// one of two sources names none.
func TestAggregateClientRefusalsKeepWho(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).UnixNano()
	refusal := func(client, keyID string, d Decision, l Limit, src string) *Record {
		r := &Record{Time: at, Status: 429, Decision: d, Limit: l, Route: "/v1/users", Tenant: "acme", Client: client,
			AuthMethod: AuthAPIKey, SourceIP: netip.MustParseAddr(src)}
		r.SetKeyID([]byte(keyID))
		return r
	}
	var a aggregator
	for range 3 {
		a.add(refusal("crm", "key_1", RateLimited, LimitKey, "198.51.100.1"))
		a.add(refusal("crm", "key_2", RateLimited, LimitKey, "2001:db8::1"))
		a.add(refusal("crm", "key_2", RateLimited, LimitKey, "2001:db8::2"))
		a.add(refusal("crm", "key_1", ConcurrencyLimited, LimitConcurrency, "198.51.100.1"))
		a.add(refusal("bi", "key_9", RateLimited, LimitKey, "198.51.100.1"))
		a.add(refusal("bi", "key_9", RateLimited, LimitKey, "198.51.100.2"))
	}
	type group struct{ client, tenant, keyID, decision, limit, src string }
	out := map[group]uint32{}
	a.flush(math.MaxInt64, func(r *Record) {
		src := ""
		if r.SourceIP.IsValid() {
			src = r.SourceIP.String()
		}
		out[group{r.Client, r.Tenant, string(r.KeyID()), r.Decision.String(), r.Limit.String(), src}] += r.Count
	})
	want := map[group]uint32{
		{"crm", "acme", "key_1", "rate_limited", "key", "198.51.100.1"}:                3,
		{"crm", "acme", "key_2", "rate_limited", "key", "2001:db8::"}:                  6,
		{"crm", "acme", "key_1", "concurrency_limited", "concurrency", "198.51.100.1"}: 3,
		{"bi", "acme", "key_9", "rate_limited", "key", ""}:                             6,
	}
	if len(out) != len(want) {
		t.Errorf("groups %v, want %v", out, want)
	}
	for g, n := range want {
		if out[g] != n {
			t.Errorf("group %+v counts %d, want %d (all: %v)", g, out[g], n, out)
		}
	}
}

// TestFoldedGroupClosesAtMaxFoldCount: a group that reaches MaxFoldCount
// requests is closed and the next request of its key opens another, so no
// record the emitter writes counts more, which is the most the collector
// believes of a record naming a client (collector
// TestClientCountCeilingIsTheSidecars). A group of one client's refusals
// holds one second of one sidecar, and nothing in the data plane bounds how
// many that is: a refusal holds no in-flight slot, and pipelined on
// kept-alive connections its rate is bounded only by CPU. Before, one
// group counted every request of its second.
func TestFoldedGroupClosesAtMaxFoldCount(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).UnixNano()
	refusal := &Record{Time: at, Status: 429, Decision: RateLimited, Limit: LimitKey, Route: "/v1/users", Tenant: "acme", Client: "crm",
		AuthMethod: AuthAPIKey, SourceIP: netip.MustParseAddr("198.51.100.1")}
	denial := &Record{Time: at, Status: 401, Decision: Unauthenticated, Route: "/v1/users", SourceIP: netip.MustParseAddr("198.51.100.9")}
	var a aggregator
	const extra = 5
	for range MaxFoldCount + extra {
		a.add(refusal)
		a.add(denial)
	}
	counts := map[string][]uint32{}
	a.flush(math.MaxInt64, func(r *Record) { counts[r.Decision.String()] = append(counts[r.Decision.String()], r.Count) })
	want := []uint32{MaxFoldCount, extra}
	for _, d := range []string{"rate_limited", "unauthenticated"} {
		if got := counts[d]; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%s records count %v, want %v", d, got, want)
		}
	}
}
