package dataplane

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
)

// TestTokenBudgetShardCannotBeTargeted: the budget of token failures
// (tokenbudget.go) keeps at most 16384 sources in 64 shards of 256, and
// a new source whose shard is full of sources still owing is refused
// 429 token_failures_limited (fail closed). The sources were placed by
// an unkeyed hash of the address that anyone can compute, so an outsider
// holding an IPv6 /48 (65536 /64s, about 1000 in each shard) picked 256
// /64s of the shard a victim's address falls in and sent one garbage
// token from each, 20 a second per source at the default budget: every
// new token of the victim was then refused unverified, without the
// outsider holding any credential. The placement is now keyed with a
// seed drawn at start, so the /64s chosen for one shard spread over all.
func TestTokenBudgetShardCannotBeTargeted(t *testing.T) {
	// A budget of one failure an hour: a source's one failure keeps its
	// bucket owing for the whole test, as 20 a second keep it at the
	// default.
	st := startStack(t, func(c *Config) { c.TokenFailures = limiter.NewLimit(1, time.Hour, 1) })
	serveDemoJWKS(t, st, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.9/32"} })
	const proxy, victim = "127.0.0.9", "198.51.100.7"
	// The shard the published scheme puts an address in: xxhash of its
	// /64 (limiter.PeerKey), spread by the table's Fibonacci multiply,
	// the top 6 bits for 64 shards.
	shard := func(a netip.Addr) uint64 {
		b := limiter.PeerKey(a).As16()
		return xxhash.Sum64(b[:]) * 0x9e3779b97f4a7c15 >> 58
	}
	want := shard(netip.MustParseAddr(victim))
	var picked []string
	for i := 0; len(picked) < tokenBudgetKeys/64; i++ {
		a := netip.MustParseAddr(fmt.Sprintf("2001:db8:77:%x::1", i))
		if shard(a) == want {
			picked = append(picked, a.String())
		}
	}
	for _, src := range picked {
		h := bearer("garbage")
		h["X-Forwarded-For"] = src
		if r := doFrom(t, proxy, st.addr, "GET", "/v1/users/9", h, ""); r.status != 401 {
			t.Fatalf("garbage token from %s: %d %s, want 401", src, r.status, r.body)
		}
	}
	h := bearer(mint(t, demoClaims("acme-hris", "acme", "read:users")))
	h["X-Forwarded-For"] = victim
	if r := doFrom(t, proxy, st.addr, "GET", "/v1/users/9", h, ""); r.status != 200 {
		t.Errorf("a good new token from %s, after one garbage token from each of %d /64s chosen for its shard: %d %s, want 200",
			victim, len(picked), r.status, r.body)
	}
}
