package dataplane

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestTokenClaimEdgesOverSocket (attack207) sends, over a real socket to
// a sidecar whose issuer's keys come from a JWKS server on loopback,
// tokens signed by that issuer whose claims try the edges an outsider
// who can shape a token (a custom claim mapping at the provider) would:
// dates past what a float or int64 holds, the tenant, subject and client
// twice, scopes that match "read:users" only to a reader that folds
// case, widens a wildcard or reads a fullwidth colon as ':', and an
// audience, issuer or tenant that is the configured one but for a byte
// or a case. None may reach the service; each is answered in the JSON
// error shape. (The issuer with a trailing slash is review40's.)
func TestTokenClaimEdgesOverSocket(t *testing.T) {
	st := startStack(t, nil)
	serveDemoJWKS(t, st, nil)
	now := time.Now().Unix()
	base := map[string]string{
		"iss": `"https://idp.demo.example"`, "aud": `"portcullis-demo"`, "sub": `"svc"`,
		"client_id": `"acme-hris"`, "tenant": `"acme"`, "scope": `"read:users"`, "jti": `"a207"`,
		"iat": fmt.Sprint(now), "exp": fmt.Sprint(now + 300),
	}
	order := []string{"iss", "aud", "sub", "client_id", "tenant", "scope", "jti", "iat", "exp"}
	// claims renders base with set's values in place and extra appended
	// as given, so that a name may come twice.
	claims := func(set map[string]string, extra string) string {
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range order {
			v := base[k]
			if s, ok := set[k]; ok {
				v = s
			}
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%s", k, v)
		}
		b.WriteString(extra)
		b.WriteByte('}')
		return b.String()
	}
	const header = `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`
	send := func(tok string) reply {
		t.Helper()
		return do(t, st.addr, "GET", "/v1/users/9", bearer(tok), "")
	}
	if r := send(mintRaw(t, header, claims(nil, ""))); r.status != 200 {
		t.Fatalf("setup: the plain token got %d %s, want 200", r.status, r.body)
	}
	if r := send(mintRaw(t, header, claims(map[string]string{"aud": `["other","portcullis-demo"]`}, ""))); r.status != 200 {
		t.Errorf("aud as an array naming the audience: %d %s, want 200", r.status, r.body)
	}
	cases := []struct {
		name   string
		set    map[string]string
		extra  string
		status int
		error  string
	}{
		{"exp 1e400", map[string]string{"exp": "1e400"}, "", 401, "unauthenticated"},
		{"exp past int64", map[string]string{"exp": "99999999999999999999"}, "", 401, "unauthenticated"},
		{"exp negative", map[string]string{"exp": "-1"}, "", 401, "unauthenticated"},
		{"exp as string", map[string]string{"exp": fmt.Sprintf("%q", fmt.Sprint(now+300))}, "", 401, "unauthenticated"},
		{"exp past year 5138", map[string]string{"exp": "100000000001"}, "", 401, "unauthenticated"},
		{"iat 1e300", map[string]string{"iat": "1e300"}, "", 401, "unauthenticated"},
		{"tenant twice", nil, `,"tenant":"globex"`, 401, "unauthenticated"},
		{"sub twice", nil, `,"sub":"admin"`, 401, "unauthenticated"},
		{"client_id twice", nil, `,"client_id":"globex-bi"`, 401, "unauthenticated"},
		{"scope twice", nil, `,"scope":"admin:settings"`, 401, "unauthenticated"},
		{"scope upper case", map[string]string{"scope": `"READ:USERS"`}, "", 403, "forbidden"},
		{"scope fullwidth colon", map[string]string{"scope": `"read\uff1ausers"`}, "", 401, "unauthenticated"},
		{"scope wildcard", map[string]string{"scope": `"read:*"`}, "", 403, "forbidden"},
		{"scope star", map[string]string{"scope": `"*"`}, "", 403, "forbidden"},
		{"aud empty array", map[string]string{"aud": `[]`}, "", 401, "unauthenticated"},
		{"aud with null", map[string]string{"aud": `["portcullis-demo",null]`}, "", 401, "unauthenticated"},
		{"aud trailing space", map[string]string{"aud": `"portcullis-demo "`}, "", 401, "unauthenticated"},
		{"iss upper-case host", map[string]string{"iss": `"https://IDP.demo.example"`}, "", 401, "unauthenticated"},
		{"tenant upper case", map[string]string{"tenant": `"ACME"`}, "", 401, "unauthenticated"},
	}
	for _, c := range cases {
		before := len(st.up.received())
		r := send(mintRaw(t, header, claims(c.set, c.extra)))
		if r.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.status)
			continue
		}
		if e := r.errorBody(t); e.Error != c.error {
			t.Errorf("%s: error %q, want %q", c.name, e.Error, c.error)
		}
		if n := len(st.up.received()); n != before {
			t.Errorf("%s: the service got the request", c.name)
		}
	}
}
