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

// TestDuplicateIssuerURLKeepsTheFirst: a second issuer with the issuer url
// of the first (a policy compiled without validation, which refuses it:
// policy TestDuplicateIssuerURLRefused) made jwt.New refuse the whole
// verifier, so every token of every issuer got 401 while /readyz said
// "jwt issuers: ok". The later issuer is left out and named in /readyz;
// the tokens of that url are verified as the first issuer's, with its
// tenants.
func TestDuplicateIssuerURLKeepsTheFirst(t *testing.T) {
	st := startStack(t, nil)
	admin := serveAdmin(t, st.srv)
	swapDoc(t, st.store, func(d *policy.Document) {
		d.Issuers = append(d.Issuers, policy.IssuerSpec{ID: "dup-idp", Issuer: d.Issuers[0].Issuer, Audiences: []string{"other-aud"},
			Algorithms: []string{"EdDSA"}, JWKS: d.Issuers[0].JWKS, Tenants: []string{"globex"}})
	})
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(mint(t, demoClaims("acme-hris", "acme", "read:users"))), ""); r.status != 200 {
		t.Errorf("token of demo-idp beside a second issuer of its url: %d %s, want 200", r.status, r.body)
	}
	other := demoClaims("globex-bi", "globex", "read:reports")
	other["aud"] = "other-aud"
	if r := do(t, st.addr, "GET", "/v1/reports/9", bearer(mint(t, other)), ""); r.status != 401 {
		t.Errorf("token for the left-out issuer's audience: %d, want 401", r.status)
	}
	body := do(t, admin, "GET", "/readyz", nil, "").body
	if !strings.Contains(body, "jwt issuer dup-idp: unusable") || !strings.Contains(body, `issuer "demo-idp"'s already`) {
		t.Errorf("/readyz = %q, want it to name dup-idp as unusable, its url being demo-idp's", body)
	}
}
