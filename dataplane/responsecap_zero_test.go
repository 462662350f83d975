package dataplane

import (
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// Finding (req803): a class's max_response_body of 0 was read as none
// (policy.Class.MaxResponse 0: the data plane's default, 64 MiB), so a
// push taking a bulk class from 1MiB to 0, which the two-person rules
// see as a tightening (looserLimits), let every response up to 64 MiB
// through. A cap written is a cap: 0 (in any unit) refuses a response
// with a body, 502 response_too_large in the JSON error shape, as any
// response above its class's cap is.
func TestMaxResponseBodyZeroIsACap(t *testing.T) {
	t.Parallel()
	for _, limit := range []string{"0", "0KiB", "0B"} {
		t.Run(limit, func(t *testing.T) {
			t.Parallel()
			st := startStack(t, nil)
			st.store.Swap(withResponseLimit(t, loadExample(t), "standard", limit))
			r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), "")
			if r.status != 502 || r.errorBody(t).Error != "response_too_large" {
				t.Fatalf("max_response_body %s: %d %q, want 502 response_too_large", limit, r.status, r.body)
			}
			if rec := st.sink.waitLast(t, "the request"); rec.Decision != audit.ResponseTooLarge {
				t.Errorf("audited %v, want response_too_large", rec.Decision)
			}
		})
	}
}
