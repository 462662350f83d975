package audit_test

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// A noisy neighbour on the audit path: one client holding a valid API key
// floods past its own rate limit while the collector is down. Its 429s
// named a client, so none was folded, each wrote a full record, the spool
// filled, and the records of every other tenant were dropped (in strict
// mode, refused 503). A verified client's own limit refusals are now
// folded too while the spool is above half full, one record per client,
// key, tenant, route, decision, limit and second: the other tenant's
// records all reach the collector, and the trail counts every 429 of the
// flood against its client, key, tenant and limit. In strict mode the
// full spool turned Accepting false, so every tenant's requests were
// refused 503 audit_unavailable; the spool now never fills.
func TestClientRateLimitFloodFolded(t *testing.T) {
	t.Parallel()
	for _, mode := range []Mode{BestEffort, Strict} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			clientFlood(t, mode)
		})
	}
}

func clientFlood(t *testing.T, mode Mode) {
	dir, url, up := downCollector(t)
	cfg := FastConfig(url, t.TempDir())
	cfg.Token, cfg.SpoolMaxBytes, cfg.CloseTimeout, cfg.Mode = aliceToken, 512<<10, time.Minute, mode
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	emit := func(r *Record) bool {
		for tries := 0; !e.Emit(r); tries++ {
			if mode == Strict && tries >= 5000 { // held batches fill the ring: the data plane refuses 503
				return false
			}
			time.Sleep(time.Millisecond)
		}
		return true
	}
	const flood, other = 30_000, 200
	srcs := []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")}
	for i := range flood {
		var r Record
		r.Time, r.Status, r.Route, r.SourceIP = time.Now().UnixNano(), 429, "/v1/users", srcs[i%2]
		r.Tenant, r.Client, r.AuthMethod = "acme", "acme-crm", AuthAPIKey
		r.SetKeyID([]byte("key_acme_01"))
		r.Decision, r.Limit = RateLimited, LimitKey
		if i%10 == 0 {
			r.Decision, r.Limit = ConcurrencyLimited, LimitConcurrency
		}
		r.SetMethod([]byte("GET"))
		r.SetPath([]byte("/v1/users/" + strconv.Itoa(i%7)))
		if !emit(&r) {
			break
		}
	}
	if mode == Strict {
		WaitFor(t, "the emitter to accept records after one client's flood (while it does not, every tenant is refused 503)", e.Accepting)
	}
	for i := range other {
		r := SampleRecord(i)
		r.Time, r.Tenant, r.Client = time.Now().UnixNano(), "globex", "globex-bi"
		r.SetRequestID([]byte("globex-" + strconv.Itoa(i)))
		if !emit(&r) {
			t.Fatalf("record %d of the other tenant not captured: %+v", i, e.Stats())
		}
	}
	deliverAfterFlood(t, e, up, flood+other, "the client's 429s")
	var rateLimited, concLimited int64
	globex := 0
	for _, r := range storedRecords(t, dir) {
		if strings.HasPrefix(r.RequestID, "globex-") {
			globex++
			if r.Count != 0 {
				t.Errorf("record %s of the other tenant aggregated (count %d)", r.RequestID, r.Count)
			}
			continue
		}
		if r.Count > 2 && r.Decision == "rate_limited" && r.SourceIP != "" { // three in a row came from both sources (concurrency_limited ones all from the first)
			t.Errorf("folded record of two sources names source %s", r.SourceIP)
		}
		if r.Tenant != "acme" || r.Client != "acme-crm" || r.KeyID != "key_acme_01" || r.AuthMethod != "api_key" {
			t.Errorf("flood record %+v does not name its client, tenant and key", r)
		}
		switch r.Decision {
		case "rate_limited":
			rateLimited += r.Requests()
			if r.Limit != "key" {
				t.Errorf("rate_limited record names limit %q, want key", r.Limit)
			}
		case "concurrency_limited":
			concLimited += r.Requests()
			if r.Limit != "concurrency" {
				t.Errorf("concurrency_limited record names limit %q, want concurrency", r.Limit)
			}
		default:
			t.Errorf("flood record with decision %q", r.Decision)
		}
	}
	if rateLimited != flood*9/10 || concLimited != flood/10 || globex != other {
		t.Errorf("stored: %d rate_limited and %d concurrency_limited requests, want %d and %d; %d records of globex, want %d",
			rateLimited, concLimited, flood*9/10, flood/10, globex, other)
	}
	rep, err := collector.TopTenants(dir, time.Time{}, time.Time{}, collector.ByRequests, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Tenants {
		if s.Tenant == "acme" && (s.Requests != flood || s.Throttled != flood) {
			t.Errorf("tenants top: acme %d requests, %d throttled; want %d and %d", s.Requests, s.Throttled, flood, flood)
		}
	}
}
