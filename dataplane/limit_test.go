package dataplane

import (
	"strconv"
	"strings"
	"testing"
)

func TestRateLimitHeaders(t *testing.T) {
	st := startStack(t, nil)
	var last reply
	admitted := 0
	for i := 0; i < 30; i++ {
		last = do(t, st.addr, "GET", "/v1/users", key(hrisKey), "")
		if last.status == 200 {
			admitted++
		}
		if last.status == 429 {
			break
		}
	}
	if last.status != 429 {
		t.Fatalf("no 429 after 30 requests at a 5/s burst 10 limit")
	}
	if admitted < 10 || admitted > 11 {
		t.Errorf("admitted %d before the first 429, want the burst of 10 (11 if a token refilled)", admitted)
	}
	if e := last.errorBody(t); e.Error != "rate_limited" {
		t.Errorf("error = %q", e.Error)
	}
	if ra, err := strconv.Atoi(last.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After = %q", last.header.Get("Retry-After"))
	}
	if got := last.header.Get("RateLimit-Policy"); got != `"client";q=10;w=2` {
		t.Errorf("RateLimit-Policy = %q", got)
	}
	if got := last.header.Get("RateLimit"); !strings.HasPrefix(got, `"client";r=0;t=`) {
		t.Errorf("RateLimit = %q", got)
	}
	// Another tenant's client is not affected.
	if r := do(t, st.addr, "GET", "/v1/reports/1", key(globexKey), ""); r.status != 200 {
		t.Errorf("other tenant: got %d, want 200", r.status)
	}
}
