package dataplane

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// An API key whose prefix is written in another case than policy.KeyPrefix
// is refused 401 like any unknown key, and audited as what it looked like,
// an API key: never as a JWT, whether a JWT verifier is configured or not,
// through X-API-Key or "Authorization: Bearer".
func TestMixedCaseKeyPrefixIsAuditedAsAPIKey(t *testing.T) {
	if up := strings.ToUpper(policy.KeyPrefix); !foldedKeyPrefix([]byte(up)) || foldedKeyPrefix([]byte("ey")) {
		t.Fatalf("foldedKeyPrefix does not compare policy.KeyPrefix %q in any case", policy.KeyPrefix)
	}
	for _, issuers := range []bool{true, false} {
		st := startStack(t, nil)
		if !issuers {
			swapDoc(t, st.store, func(d *policy.Document) { d.Issuers = nil })
		}
		for _, prefix := range []string{"PK_", "Pk_", "pK_"} {
			k := prefix + strings.TrimPrefix(hrisKey, "pk_")
			for how, h := range map[string]map[string]string{"x-api-key": key(k), "bearer": bearer(k)} {
				id := "case-" + strings.ToLower(prefix[:2]) + "-" + how
				h["X-Request-ID"] = id
				if r := do(t, st.addr, "GET", "/v1/users", h, ""); r.status != 401 {
					t.Errorf("issuers %v, %s via %s: got %d %s, want 401", issuers, prefix, how, r.status, r.body)
				}
				if rec := st.sink.withRequestID(t, id); rec.AuthMethod != audit.AuthAPIKey || rec.Decision != audit.Unauthenticated {
					t.Errorf("issuers %v, %s via %s: audited auth_method %s decision %s, want api_key unauthenticated",
						issuers, prefix, how, rec.AuthMethod, rec.Decision)
				}
			}
		}
	}
}
