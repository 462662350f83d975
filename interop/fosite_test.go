package interop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/dataplane/jwt"
)

// segments decodes the header and payload of a compact JWS into maps,
// without verifying anything, to see what the provider emits.
func segments(t testing.TB, token string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments, want 3", len(parts))
	}
	dec := func(seg string) map[string]any {
		b, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			t.Fatalf("segment %q: %v", seg, err)
		}
		m := map[string]any{}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("segment %q: %v", b, err)
		}
		return m
	}
	return dec(parts[0]), dec(parts[1])
}

// tamper flips one signature character well inside the segment, so the
// signature stays well-formed base64url of the right length but is wrong.
func tamper(token string) string {
	b := []byte(token)
	i := strings.LastIndexByte(token, '.') + 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// verifierIssuer is how Portcullis is configured for the fosite provider.
func verifierIssuer(p *provider) jwt.Issuer {
	return jwt.Issuer{
		ID:          "fosite",
		URL:         p.issuer,
		JWKSURL:     p.issuer + "/jwks.json",
		Audiences:   []string{audience},
		Algorithms:  []string{"RS256"},
		ClientClaim: "client_id",
		TenantClaim: "tenant",
		ClockSkew:   30 * time.Second,
		MaxLifetime: time.Hour,
	}
}

// TestFositeEmits records what fosite's JWT access-token strategy puts in
// a client credentials token, so a fosite upgrade that changes the shape
// fails here first, with the token logged.
func TestFositeEmits(t *testing.T) {
	t.Parallel()
	p := startProvider(t)
	header, payload := segments(t, p.fetchToken(t, "read:users"))
	t.Logf("fosite header: %v", header)
	t.Logf("fosite payload: %v", payload)

	for name, want := range map[string]any{"alg": "RS256", "kid": keyID, "typ": "JWT"} {
		if got := header[name]; got != want {
			t.Errorf("header %s: got %v, want %v", name, got, want)
		}
	}
	for name, want := range map[string]any{"iss": p.issuer, "sub": clientID, "client_id": clientID, "tenant": tenantID} {
		if got := payload[name]; got != want {
			t.Errorf("claim %s: got %v, want %v", name, got, want)
		}
	}
	// fosite writes aud and scp as arrays and, by default, no "scope".
	for name, want := range map[string][]any{"aud": {audience}, "scp": {"read:users"}} {
		if got, _ := payload[name].([]any); !slices.Equal(got, want) {
			t.Errorf("claim %s: got %#v, want %#v", name, payload[name], want)
		}
	}
	if _, ok := payload["scope"]; ok {
		t.Errorf("claim scope: got %v, want absent", payload["scope"])
	}
	for _, name := range []string{"exp", "iat", "jti"} {
		if _, ok := payload[name]; !ok {
			t.Errorf("claim %s: missing", name)
		}
	}
}

// TestFositeTokenVerifies verifies a token from the real token endpoint
// with Portcullis's verifier, which fetches the provider's real JWKS.
func TestFositeTokenVerifies(t *testing.T) {
	t.Parallel()
	p := startProvider(t)
	v, err := jwt.New(jwt.Config{Issuers: []jwt.Issuer{verifierIssuer(p)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); v.Close() })
	v.Start(ctx)

	token := p.fetchToken(t, "read:users")
	if !jwt.LooksLikeJWT([]byte(token)) {
		t.Fatalf("LooksLikeJWT(fosite token) = false, want true")
	}
	c, st := v.Verify([]byte(token), time.Now())
	if st != jwt.OK {
		t.Fatalf("Verify: got %v, want %v", st, jwt.OK)
	}
	if c.Client != clientID || c.Tenant != tenantID || c.Subject != clientID || c.Issuer.ID != "fosite" {
		t.Errorf("claims: got client %q tenant %q sub %q issuer %q, want %q %q %q fosite",
			c.Client, c.Tenant, c.Subject, c.Issuer.ID, clientID, tenantID, clientID)
	}
	if !slices.Equal(c.Scopes, []string{"read:users"}) {
		t.Errorf("scopes: got %q, want [read:users]", c.Scopes)
	}
	if c.JTI == "" || c.IssuedAt == 0 || c.Expiry-c.IssuedAt != int64((10*time.Minute).Seconds()) {
		t.Errorf("jti %q iat %d exp %d: want a jti and a 10m lifetime", c.JTI, c.IssuedAt, c.Expiry)
	}

	if _, st := v.Verify([]byte(tamper(token)), time.Now()); st != jwt.BadSignature {
		t.Errorf("Verify(tampered): got %v, want %v", st, jwt.BadSignature)
	}
	// The token's own expiry, as fosite set it, is enforced.
	if _, st := v.Verify([]byte(token), time.Unix(c.Expiry, 0).Add(time.Minute)); st != jwt.Expired {
		t.Errorf("Verify(after exp+skew): got %v, want %v", st, jwt.Expired)
	}
}
