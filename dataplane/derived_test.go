package dataplane

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// TestPolicyHeaderWindow checks the RateLimit-Policy window, including slow
// rates with big bursts whose Per*Burst overflows int64 (issue 13 item 6).
func TestPolicyHeaderWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rate policy.Rate
		want string
	}{
		{"per second", policy.Rate{Events: 5, Per: time.Second, Burst: 10}, `"key";q=10;w=2`},
		{"rounds up", policy.Rate{Events: 7, Per: time.Minute, Burst: 3}, `"key";q=3;w=26`},
		{"under a second is one", policy.Rate{Events: 1e9, Per: time.Second, Burst: 1}, `"key";q=1;w=1`},
		{"1/h burst 1e9", policy.Rate{Events: 1, Per: time.Hour, Burst: 1e9}, `"key";q=1000000000;w=3600000000000`},
		{"3/h burst 1e9", policy.Rate{Events: 3, Per: time.Hour, Burst: 1e9}, `"key";q=1000000000;w=1200000000000`},
		{"7/min burst 1e9", policy.Rate{Events: 7, Per: time.Minute, Burst: 1e9}, `"key";q=1000000000;w=8571428572`},
		{"saturates", policy.Rate{Events: 1, Per: time.Hour, Burst: 1 << 62}, `"key";q=4611686018427387904;w=9223372036854775807`},
		{"no limit", policy.Rate{}, ``},
	}
	for _, tt := range tests {
		if got := policyHeader("key", tt.rate); got != tt.want {
			t.Errorf("%s: policyHeader(%v) = %q, want %q", tt.name, tt.rate, got, tt.want)
		}
	}
}
