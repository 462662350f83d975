package dataplane

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// demoSeed is the demo identity provider's Ed25519 seed; its public key is
// the inline JWKS of examples/policy.yaml (demo only).
const demoSeed = "tBQwRAqb0m-DX5PUmxir2ciMs_zBX9zK4bZiaZEyLHs"

// mint signs claims as the demo issuer.
func mint(t testing.TB, claims map[string]any) string {
	t.Helper()
	seed, err := base64.RawURLEncoding.DecodeString(demoSeed)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "EdDSA", "typ": "at+jwt", "kid": "demo-1"}) + "." + enc(claims)
	sig := ed25519.Sign(ed25519.NewKeyFromSeed(seed), []byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func demoClaims(client, tenant, scope string) map[string]any {
	now := time.Now().Unix()
	return map[string]any{
		"iss": "https://idp.demo.example", "aud": "portcullis-demo", "sub": "svc-" + client,
		"client_id": client, "tenant": tenant, "scope": scope, "jti": "jti-" + client,
		"iat": now, "nbf": now, "exp": now + 600,
	}
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestJWTAllowedWithIdentityAndAudit(t *testing.T) {
	st := startStack(t, nil)
	tok := mint(t, demoClaims("acme-hris", "acme", "read:users"))
	r := do(t, st.addr, "GET", "/v1/users/9", bearer(tok), "")
	if r.status != 200 {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
	h := st.up.received()[0].headers
	if h["x-portcullis-auth-method"] != "jwt" || h["x-portcullis-client"] != "acme-hris" || h["x-portcullis-scopes"] != "read:users" {
		t.Errorf("identity headers = %v", h)
	}
	if _, ok := h["authorization"]; ok {
		t.Errorf("the access token reached the upstream without forward_token: %q", h["authorization"])
	}
	rec := st.sink.last(t)
	if rec.AuthMethod != audit.AuthJWT || rec.Issuer != "demo-idp" || rec.TokenFingerprint == ([16]byte{}) || rec.Client != "acme-hris" {
		t.Errorf("audit record = %+v", rec)
	}
	if line := string(rec.AppendJSON(nil)); strings.Contains(line, tok[:20]) || strings.Contains(line, tok[len(tok)-20:]) {
		t.Errorf("audit record holds the token: %s", line)
	}
}

func TestJWTDenials(t *testing.T) {
	st := startStack(t, nil)
	claims := func(mut func(map[string]any)) string {
		c := demoClaims("acme-hris", "acme", "read:users")
		mut(c)
		return mint(t, c)
	}
	good := claims(func(map[string]any) {})
	cases := []struct {
		name, target, token string
		status              int
	}{
		{"scope the token lacks", "/v1/users", claims(func(c map[string]any) { c["scope"] = "write:records" }), 403},
		{"scope the client may not hold", "/v1/reports/1", claims(func(c map[string]any) { c["scope"] = "read:users read:reports" }), 403},
		{"unknown client", "/v1/users", claims(func(c map[string]any) { c["client_id"] = "nobody" }), 401},
		{"tenant mismatch", "/v1/users", claims(func(c map[string]any) { c["tenant"] = "globex" }), 401},
		{"expired", "/v1/users", claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), 401},
		{"wrong audience", "/v1/users", claims(func(c map[string]any) { c["aud"] = "other" }), 401},
		{"scope as array", "/v1/users", claims(func(c map[string]any) { c["scope"] = []string{"read:users"} }), 401},
		{"tampered signature", "/v1/users", good[:len(good)-4] + "AAAA", 401},
		{"alg none", "/v1/users", strings.Join(strings.Split(good, ".")[:2], ".") + ".", 401},
	}
	for _, c := range cases {
		r := do(t, st.addr, "GET", c.target, bearer(c.token), "")
		if r.status != c.status {
			t.Errorf("%s: got %d %s, want %d", c.name, r.status, r.body, c.status)
		}
		if c.status == 401 && r.errorBody(t).Error != "unauthenticated" {
			t.Errorf("%s: error %q", c.name, r.body)
		}
	}
}

// Revocation by jti and client suspension apply to a token already cached.
func TestJWTRevocationAndSuspensionApplyToCachedTokens(t *testing.T) {
	st := startStack(t, nil)
	tok := mint(t, demoClaims("acme-hris", "acme", "read:users"))
	if r := do(t, st.addr, "GET", "/v1/users", bearer(tok), ""); r.status != 200 {
		t.Fatalf("first use: %d", r.status)
	}
	doc := loadExample(t).Doc
	snap, err := policy.Compile(doc, policy.Live{Revision: 5, RevokedJTIs: map[string]bool{"jti-acme-hris": true}})
	if err != nil {
		t.Fatal(err)
	}
	st.store.Swap(snap)
	if r := do(t, st.addr, "GET", "/v1/users", bearer(tok), ""); r.status != 401 {
		t.Errorf("revoked jti: got %d, want 401", r.status)
	}
	snap, _ = policy.Compile(doc, policy.Live{Revision: 6, Suspended: map[string]struct{}{"acme-hris": {}}})
	st.store.Swap(snap)
	if r := do(t, st.addr, "GET", "/v1/users", bearer(tok), ""); r.status != 403 || r.errorBody(t).Error != "suspended" {
		t.Errorf("suspended client: got %d %s, want 403 suspended", r.status, r.body)
	}
	if r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), ""); r.status != 403 {
		t.Errorf("suspended client's API key: got %d, want 403", r.status)
	}
}

// A privileged class can require a recent token and only some methods.
func TestJWTPrivilegedRules(t *testing.T) {
	st := startStack(t, nil)
	doc := *loadExample(t).Doc
	doc.Classes = append([]policy.ClassSpec(nil), doc.Classes...)
	for i := range doc.Classes {
		if doc.Classes[i].Name == "privileged" {
			doc.Classes[i].MaxTokenAge = "5m"
			doc.Classes[i].AuthMethods = []string{"jwt"}
		}
	}
	snap, err := policy.Compile(&doc, policy.Live{Revision: 7})
	if err != nil {
		t.Fatal(err)
	}
	st.store.Swap(snap)
	fresh := mint(t, demoClaims("acme-admin", "acme", "admin:settings"))
	old := demoClaims("acme-admin", "acme", "admin:settings")
	old["iat"] = time.Now().Add(-10 * time.Minute).Unix()
	old["jti"] = "old"
	cases := []struct {
		name    string
		headers map[string]string
		status  int
		err     string
	}{
		{"fresh token", bearer(fresh), 200, ""},
		{"token older than max_token_age", bearer(mint(t, old)), 401, "token_too_old"},
		{"api key where only jwt is allowed", key(adminKey), 403, "auth_method_denied"},
	}
	for _, c := range cases {
		r := do(t, st.addr, "PUT", "/v1/admin/settings", c.headers, "")
		if r.status != c.status {
			t.Errorf("%s: got %d %s, want %d", c.name, r.status, r.body, c.status)
			continue
		}
		if c.err != "" && r.errorBody(t).Error != c.err {
			t.Errorf("%s: error %s, want %s", c.name, r.body, c.err)
		}
	}
}

// An issuer with forward_token passes its verified token on; the default
// (TestJWTAllowedWithIdentityAndAudit) strips it.
func TestJWTForwardTokenOptIn(t *testing.T) {
	st := startStack(t, nil)
	swapDoc(t, st.store, func(d *policy.Document) { d.Issuers[0].ForwardToken = true })
	tok := mint(t, demoClaims("acme-hris", "acme", "read:users"))
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(tok), ""); r.status != 200 {
		t.Fatalf("got %d %s, want 200", r.status, r.body)
	}
	if got := st.up.received()[0].headers["authorization"]; got != "Bearer "+tok {
		t.Errorf("upstream Authorization = %q, want the verified token", got)
	}
	// An API key is never forwarded, whatever an issuer says.
	if r := do(t, st.addr, "GET", "/v1/users/9", map[string]string{"Authorization": "Bearer " + hrisKey}, ""); r.status != 200 {
		t.Fatalf("api key: got %d %s, want 200", r.status, r.body)
	}
	if got, ok := st.up.received()[1].headers["authorization"]; ok {
		t.Errorf("upstream Authorization = %q for an API key request, want absent", got)
	}
}

// swapDoc compiles the example policy changed by mutate (its slices are
// copies) and makes it current.
func swapDoc(t testing.TB, store *policy.Store, mutate func(*policy.Document)) {
	t.Helper()
	doc := *loadExample(t).Doc
	doc.Issuers = append([]policy.IssuerSpec(nil), doc.Issuers...)
	doc.Classes = append([]policy.ClassSpec(nil), doc.Classes...)
	doc.Clients = append([]policy.ClientSpec(nil), doc.Clients...)
	mutate(&doc)
	snap, err := policy.Compile(&doc, policy.Live{Revision: store.Load().Revision + 1})
	if err != nil {
		t.Fatal(err)
	}
	store.Swap(snap)
}
