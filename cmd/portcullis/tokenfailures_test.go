package main

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/limiter"
)

// dev starts its sidecar from a sidecarFlags literal that sets no
// --token-failures-per-ip (0). That must be the data plane's default
// budget, not a budget of none: it was limiter.NewLimit(0, ...), which
// denies every take, so `make demo`'s JWT minted by the demo issuer was
// answered 429 token_failures_limited.
func TestTokenFailuresZeroIsTheDefault(t *testing.T) {
	if l := tokenFailures(0); !l.IsZero() {
		t.Errorf("tokenFailures(0) = %+v, want the zero Limit (the data plane's default)", l)
	}
	table := limiter.NewTable(limiter.Config{MaxKeys: 16})
	l := tokenFailures(20)
	now := time.Now().UnixNano()
	for i := range 40 {
		if !table.AllowAt(1, l, now).OK {
			t.Fatalf("tokenFailures(20) refused take %d of a full bucket, want 40 admitted at once", i+1)
		}
	}
	if table.AllowAt(1, l, now).OK {
		t.Errorf("tokenFailures(20) admitted a 41st take at once")
	}
}
