package dataplane

import (
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
)

// TestOutsiderMakesNoLimiterState holds, over real sockets, that what a
// client without a credential sends makes no rate-limit bucket and
// spends no tenant's budget, and that the sources it claims or rotates
// make at most one entry of the budget of token failures each
// (tokenbudget.go): 300 wrong secrets under a known key id, keys of 300
// made-up ids, tokens of good signature naming 300 made-up clients and
// tenants, garbage tokens under 300 forwarded addresses from a peer that
// is no trusted proxy, and from a trusted proxy under 300 addresses of
// one /64. acme-hris's own key, limited to 10 at once, is served after
// all of it.
func TestOutsiderMakesNoLimiterState(t *testing.T) {
	st := startStack(t, func(c *Config) { c.TokenFailures = limiter.NewLimit(1000, time.Hour, 1000) })
	serveDemoJWKS(t, st, func(d *policy.Document) { d.TrustedProxies = []string{"127.0.0.9/32"} })
	const n = 300
	send := func(from string, h map[string]string, want int) {
		t.Helper()
		if r := doFrom(t, from, st.addr, "GET", "/v1/users/9", h, ""); r.status != want {
			t.Fatalf("from %s with %v: %d %s, want %d", from, h, r.status, r.body, want)
		}
	}
	for i := range n {
		send("127.0.0.2", map[string]string{"X-API-Key": fmt.Sprintf("pk_acmehris1_WrongSecret%026d", i)}, 401)
		send("127.0.0.2", map[string]string{"X-API-Key": fmt.Sprintf("pk_madeup%d_DemoAcmeHrisSecret000000000000000001", i)}, 401)
		c := demoClaims(fmt.Sprintf("client-%d", i), fmt.Sprintf("tenant-%d", i), "read:users")
		c["jti"] = fmt.Sprintf("made-up-%d", i)
		send("127.0.0.3", bearer(mint(t, c)), 401)
		h := bearer("garbage")
		h["X-Forwarded-For"] = fmt.Sprintf("203.0.113.%d", i%250+1)
		send("127.0.0.4", h, 401)
		h = bearer("garbage")
		h["X-Forwarded-For"] = fmt.Sprintf("2001:db8:5:6:%x::%x", i, i)
		send("127.0.0.9", h, 401)
	}
	if got := st.srv.buckets.Len(); got != 0 {
		t.Errorf("rate-limit buckets after requests without a credential: %d, want 0", got)
	}
	// One each: 127.0.0.3 (good signatures of made-up clients, verified,
	// so its bucket is full again: idle, the first a full shard drops),
	// 127.0.0.4 whatever it forwards, and the /64 behind the proxy.
	if got := st.srv.tokens.table.Len(); got != 3 {
		t.Errorf("sources in the budget of token failures: %d, want 3 (127.0.0.3, 127.0.0.4 and 2001:db8:5:6::/64)", got)
	}
	for range 10 { // acme-hris's burst
		send("127.0.0.5", map[string]string{"X-API-Key": "pk_acmehris1_DemoAcmeHrisSecret000000000000000001"}, 200)
	}
}
