package dataplane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// TestOneUnusableIssuerKeepsTheOthers: an HS256 issuer whose secret file
// held a secret under 32 bytes (a bad rotation), or an issuer whose inline
// JWKS holds no usable key, made the whole token verifier fail to build:
// every issuer's tokens got 401, the README's "the issuer's tokens get
// 401" notwithstanding, and /readyz said nothing. The unusable issuer is
// now left out and named in /readyz with the reason, and the other
// issuers' tokens are served.
func TestOneUnusableIssuerKeepsTheOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hs.secret")
	short := []byte("tooShortSecret") // 14 bytes
	if err := os.WriteFile(path, short, 0o600); err != nil {
		t.Fatal(err)
	}
	st := startStack(t, nil)
	admin := serveAdmin(t, st.srv)
	swapDoc(t, st.store, func(d *policy.Document) {
		d.Issuers = append(d.Issuers,
			policy.IssuerSpec{ID: "hs-idp", Issuer: "https://hs.example", Audiences: []string{"hs-aud"},
				Algorithms: []string{"HS256"}, HMACSecret: "file:" + path, Tenants: []string{"acme"}},
			policy.IssuerSpec{ID: "empty-idp", Issuer: "https://empty.example", Audiences: []string{"aud"},
				Algorithms: []string{"ES256"}, JWKS: `{"keys":[]}`, Tenants: []string{"acme"}})
	})
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(mint(t, demoClaims("acme-hris", "acme", "read:users"))), ""); r.status != 200 {
		t.Errorf("token of the usable issuer demo-idp: %d %s, want 200", r.status, r.body)
	}
	now := time.Now().Unix()
	hs := mintHS(t, short, map[string]any{"iss": "https://hs.example", "aud": "hs-aud", "client_id": "acme-hris",
		"tenant": "acme", "scope": "read:users", "jti": "hs-1", "iat": now, "exp": now + 300})
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(hs), ""); r.status != 401 {
		t.Errorf("token signed with the short secret: %d, want 401", r.status)
	}
	body := do(t, admin, "GET", "/readyz", nil, "").body
	for _, want := range []string{"jwt issuer hs-idp: unusable", "at least 32 bytes", "jwt issuer empty-idp: unusable", "no usable key"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz = %q, want it to say %q", body, want)
		}
	}
	if strings.Contains(body, string(short)) {
		t.Errorf("/readyz carries the secret: %q", body)
	}
}
