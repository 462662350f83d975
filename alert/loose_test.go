package alert

import (
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// TestMadeUpClientsBounded: a record is its sender's claim, and a sender
// bound to tenant acme may name any client in acme's records. Batches of
// 10,000 records, each client named by three of them, made a group of
// egress-spike-client (a window of 1,451 buckets: its baseline is a day)
// and one of dead-credential for each, with a map of networks, kept as
// long as the rules look back: 125 MB of the collector's memory a batch
// of 400 KB (a sender's quota is 512 MiB of batches a minute), and a
// dead_credential alert, a ticket per sink, for every made-up client.
// Such clients are now counted by no rule, and the groups of made-up
// source addresses share looseBudget; the policy's own clients are still
// counted past it: acme-hris's 429s fire after the flood. Not parallel:
// it measures the process's heap.
func TestMadeUpClientsBounded(t *testing.T) {
	doc := examplePolicy(t)
	doc.Detection = append(doc.Detection,
		policy.DetectionSpec{Name: "throttled", Kind: KindRateLimitSpike, GroupBy: "client", Threshold: 5, Window: "5m", Severity: "high"})
	r := newRig(t, doc)
	const token = "acme-token-0123456789abcdef0123456789ab"
	col, err := collector.New(r.store, collector.Config{Tokens: []collector.SenderToken{{Name: "acme", Token: token, Tenants: []string{"acme"}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	defer srv.Close()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	// looseBudget's 64 MiB and what the collector and store hold besides.
	const most = 96 << 20
	before := heap()
	seq := 0
	flood := func(batches int, fill func(n int, r *audit.Record)) {
		recs := make([]audit.Record, 9_999)
		for range batches {
			for j := range recs {
				recs[j] = audit.Record{Time: time.Now().UnixNano(), Route: "/v1/users", Tenant: "acme"}
				fill(seq*len(recs)+j, &recs[j])
			}
			seq++
			if code := postBatch(t, srv.URL, token, "i", "b-"+strconv.Itoa(seq), recs...); code != 200 {
				t.Fatalf("batch %d: status %d, want 200", seq, code)
			}
		}
	}
	addr := func(n int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}) }
	flood(3, func(n int, r *audit.Record) {
		r.Status, r.Decision, r.BytesOut = 403, audit.Suspended, 1
		r.Client, r.SourceIP = "made-up-"+strconv.Itoa(n/3), addr(n)
	})
	if grew := int64(heap()) - int64(before); grew > most {
		t.Errorf("the engine's memory grew by %d MiB for 30,000 records naming made-up clients, over %d MiB", grew>>20, most>>20)
	}
	flood(6, func(n int, r *audit.Record) {
		r.Status, r.Decision, r.SourceIP = 401, audit.Unauthenticated, addr(n)
	})
	if grew := int64(heap()) - int64(before); grew > most {
		t.Errorf("the engine's memory grew by %d MiB after 60,000 records from made-up sources, over %d MiB", grew>>20, most>>20)
	}
	for _, a := range r.eng.Alerts() {
		if strings.HasPrefix(a.Client, "made-up-") || strings.HasPrefix(a.Key, "made-up-") {
			t.Errorf("alert %s of rule %s fired for client %q, which no policy names", a.ID, a.Rule, a.Client)
			break
		}
	}
	throttled := make([]audit.Record, 6)
	for j := range throttled {
		throttled[j] = audit.Record{Time: time.Now().UnixNano(), Route: "/v1/users", Status: 429, Decision: audit.RateLimited, Tenant: "acme", Client: "acme-hris"}
	}
	if code := postBatch(t, srv.URL, token, "i", "b-last", throttled...); code != 200 {
		t.Fatalf("batch of 429s: status %d, want 200", code)
	}
	if n := len(r.alerts("throttled")); n != 1 {
		t.Errorf("%d throttled alerts after the flood, want 1: acme-hris is the policy's client, counted past the budget", n)
	}
}
