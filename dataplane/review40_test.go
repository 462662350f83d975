package dataplane

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/limiter"
)

// Outside review of the decision (review40): an attacker holding a
// low-privilege credential of one tenant.

// Finding: a request that waited in its class's concurrency queue was
// forwarded on the decision it got when it arrived. A revocation or a
// suspension that etcd delivered meanwhile (policy.Amend, in
// milliseconds) did not reach it: with max_wait up to 5 minutes, a
// client whose key was revoked, whose token's jti was revoked, or who
// was suspended by detection's containment, queued bulk exports before
// the revocation landed and had every one of them served after it. A
// request whose tables were replaced while it was decided is now
// authenticated and authorized again on the tables in force before it
// goes on, a push of the document included.
func TestRevocationReachesQueuedRequests(t *testing.T) {
	revokeWhileWaiting(t, false) // recheck_test.go
}

// Finding: the headers in which other gateways and authenticating
// proxies tell their service who the caller is, and what it may do, went
// on as the client wrote them: Kong's consumer and OAuth 2.0 headers
// (X-Consumer-*, X-Credential-Identifier, X-Anonymous-Consumer,
// X-Authenticated-Scope, X-Authenticated-Userid, X-Userinfo), Authelia's
// Remote-Groups, Remote-Name and Remote-Email beside the Remote-User
// dropped already, authentik's X-Authentik-*, Pomerium's X-Pomerium-*,
// Google Cloud Endpoints' and API Gateway's X-Endpoint-Api-Userinfo and
// X-Apigateway-Api-Userinfo, and WSO2's X-Jwt-Assertion. A service
// written for one of them took "X-Authenticated-Scope: admin" or
// "Remote-Groups: admins" from a client holding read:users for its
// grants. They are removed as the proxy login headers are
// (TestProxyLoginHeadersDropped).
func TestGatewayIdentityHeadersDropped(t *testing.T) {
	forged := []string{"X-Consumer-Id", "X-Consumer-Username", "x-consumer-custom-id", "X-Consumer-Groups",
		"X-Credential-Identifier", "X-Anonymous-Consumer", "X-Authenticated-Scope", "X-Authenticated-Userid",
		"X-Userinfo", "Remote-Groups", "Remote-Name", "REMOTE-EMAIL", "X-Authentik-Username", "X-authentik-groups",
		"X-Pomerium-Jwt-Assertion", "X-Pomerium-Claim-Email", "X-Endpoint-Api-Userinfo", "X-Apigateway-Api-Userinfo",
		"X-Jwt-Assertion"}
	kept := []string{"X-Consumer", "X-Correlation-Id", "X-User-Agent-Hint", "Remote", "X-Api-Version", "X-Authz-Debug"}
	if through := sentThrough(t, forged, kept, "admin"); len(through) > 0 { // certheader_test.go
		t.Errorf("the upstream got %d of %d gateway identity headers as the client wrote them: %s; want none", len(through), len(forged), strings.Join(through, ", "))
	}
}

// TestReview40TokenClaims holds what a holder of tokens of the demo
// issuer gets from claims shaped against the sidecar's reading of them,
// over a real socket: the tenant and client claims compared as they are
// (no case folding, trimming or arrays), scopes granted only as the
// client holds them and never from "scope" as an array or from "scope"
// beside "scp", no member read twice, no header naming or carrying its
// key, no algorithm but the issuer's. A refused token reaches nothing;
// an admitted one tells the service the token's own tenant and scopes.
func TestReview40TokenClaims(t *testing.T) {
	st, up := startRecorded(t, nil)
	now := time.Now().Unix()
	// A case's claims get the demo issuer's iss and aud unless they have
	// their own, and without "exp" iat now and exp in ten minutes; at is
	// a time relative to now, in seconds, for a case's own.
	payload := func(i int, extra string) string {
		p := fmt.Sprintf(`{"sub":"svc","jti":"j-%d",`, i) + extra
		if !strings.Contains(extra, `"iss"`) {
			p += `,"iss":"https://idp.demo.example"`
		}
		if !strings.Contains(extra, `"aud"`) {
			p += `,"aud":"portcullis-demo"`
		}
		if !strings.Contains(extra, `"exp"`) {
			p += fmt.Sprintf(`,"iat":%d,"exp":%d`, now, now+600)
		}
		return p + "}"
	}
	at := func(d int64) string { return fmt.Sprint(now + d) }
	const who = `"client_id":"acme-admin","tenant":"acme","scope":"admin:settings",`
	const hdr = `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`
	x := base64.RawURLEncoding.EncodeToString
	demoPub, _ := base64.RawURLEncoding.DecodeString("lgXeSIRAyXwmOjbRiQGZ7YVoYx8XviIq9Kl4GWEV5x0")
	hs256 := func(header, claims string, secret []byte) string {
		in := x([]byte(header)) + "." + x([]byte(claims))
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + x(m.Sum(nil))
	}
	cases := []struct {
		name, header, claims string
		status               int
	}{
		{"admin token", hdr, `"client_id":"acme-admin","tenant":"acme","scope":"admin:settings"`, 200},
		{"no tenant claim", hdr, `"client_id":"acme-admin","scope":"admin:settings"`, 200},
		{"scp array", hdr, `"client_id":"acme-admin","tenant":"acme","scp":["admin:settings"]`, 200},
		{"scope the client lacks", hdr, `"client_id":"acme-hris","tenant":"acme","scope":"read:users admin:settings"`, 403},
		{"scope in other case", hdr, `"client_id":"acme-admin","tenant":"acme","scope":"Admin:Settings"`, 403},
		{"scopes joined by comma", hdr, `"client_id":"acme-admin","tenant":"acme","scope":"read:users,admin:settings"`, 403},
		{"scope as array", hdr, `"client_id":"acme-admin","tenant":"acme","scope":["admin:settings"]`, 401},
		{"scope beside scp", hdr, `"client_id":"acme-admin","tenant":"acme","scope":"read:users","scp":["admin:settings"]`, 401},
		{"scope with a tab", hdr, `"client_id":"acme-admin","tenant":"acme","scope":"read:users\tadmin:settings"`, 401},
		{"other tenant", hdr, `"client_id":"acme-admin","tenant":"globex","scope":"admin:settings"`, 401},
		{"tenant in other case", hdr, `"client_id":"acme-admin","tenant":"ACME","scope":"admin:settings"`, 401},
		{"tenant padded", hdr, `"client_id":"acme-admin","tenant":" acme","scope":"admin:settings"`, 401},
		{"tenant as array", hdr, `"client_id":"acme-admin","tenant":["acme"],"scope":"admin:settings"`, 401},
		{"client in other case", hdr, `"client_id":"ACME-ADMIN","tenant":"acme","scope":"admin:settings"`, 401},
		{"client padded", hdr, `"client_id":"acme-admin ","tenant":"acme","scope":"admin:settings"`, 401},
		{"client as array", hdr, `"client_id":["acme-admin"],"tenant":"acme","scope":"admin:settings"`, 401},
		{"client twice", hdr, `"client_id":"acme-hris","client_id":"acme-admin","tenant":"acme","scope":"admin:settings"`, 401},
		{"client twice escaped", hdr, `"client_id":"acme-hris","\u0063lient_id":"acme-admin","tenant":"acme","scope":"admin:settings"`, 401},
		{"scope twice", hdr, `"client_id":"acme-admin","tenant":"acme","scope":"read:users","scope":"admin:settings"`, 401},
		{"ID token claim", `{"alg":"EdDSA","typ":"JWT","kid":"demo-1"}`, `"client_id":"acme-admin","tenant":"acme","scope":"admin:settings","nonce":"n"`, 401},
		{"embedded jwk", `{"alg":"EdDSA","kid":"demo-1","jwk":{"kty":"OKP","crv":"Ed25519","x":"lgXeSIRAyXwmOjbRiQGZ7YVoYx8XviIq9Kl4GWEV5x0"}}`, `"client_id":"acme-admin","tenant":"acme","scope":"admin:settings"`, 401},
		{"jku", `{"alg":"EdDSA","kid":"demo-1","jku":"https://evil.example/jwks"}`, `"client_id":"acme-admin","tenant":"acme","scope":"admin:settings"`, 401},
		{"kid path", `{"alg":"EdDSA","kid":"../demo-1"}`, `"client_id":"acme-admin","tenant":"acme","scope":"admin:settings"`, 401},
		{"alg twice", `{"alg":"none","alg":"EdDSA","kid":"demo-1"}`, `"client_id":"acme-admin","tenant":"acme","scope":"admin:settings"`, 401},
		// Times, with the issuer's clock_skew of 30s and max_lifetime of 1h.
		{"expired within the skew", hdr, who + `"iat":` + at(-600) + `,"exp":` + at(-10), 200},
		{"expired past the skew", hdr, who + `"iat":` + at(-600) + `,"exp":` + at(-40), 401},
		{"not before, within the skew", hdr, who + `"nbf":` + at(20) + `,"exp":` + at(600), 200},
		{"not before, past the skew", hdr, who + `"nbf":` + at(40) + `,"exp":` + at(600), 401},
		{"issued ahead past the skew", hdr, who + `"iat":` + at(60) + `,"exp":` + at(600), 401},
		{"lifetime over max_lifetime", hdr, who + `"iat":` + at(0) + `,"exp":` + at(3601), 401},
		{"no iat, exp past max_lifetime", hdr, who + `"exp":` + at(3700), 401},
		{"exp as a string", hdr, who + `"iat":` + at(0) + `,"exp":"` + at(600) + `"`, 401},
		{"exp null", hdr, who + `"iat":` + at(0) + `,"exp":null`, 401},
		{"exp past year 5138", hdr, who + `"exp":100000000001`, 401},
		{"exp negative", hdr, who + `"exp":-1`, 401},
		{"exp twice", hdr, who + `"exp":` + at(-100) + `,"exp":` + at(600), 401},
		{"aud of another API", hdr, who + `"aud":"other-api"`, 401},
		{"aud of another API first", hdr, who + `"aud":["other-api","portcullis-demo"]`, 200},
		{"aud in other case", hdr, who + `"aud":"Portcullis-Demo"`, 401},
		{"aud empty array", hdr, who + `"aud":[]`, 401},
		{"iss with a slash", hdr, who + `"iss":"https://idp.demo.example/"`, 401},
		{"iss in other case", hdr, who + `"iss":"https://IDP.demo.example"`, 401},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := len(up.received())
			r := do(t, st.addr, "PUT", "/v1/admin/settings", bearer(mintRaw(t, tc.header, payload(i, tc.claims))), "")
			if r.status != tc.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, tc.status)
			}
			if tc.status != 200 {
				if got := len(up.received()) - n; got != 0 {
					t.Fatalf("answered %d, and the upstream got %d request(s)", r.status, got)
				}
				return
			}
			got := up.only(t, n)
			if ten, sc := got.values("x-portcullis-tenant"), got.values("x-portcullis-scopes"); len(ten) != 1 || ten[0] != "acme" || len(sc) != 1 || sc[0] != "admin:settings" {
				t.Fatalf("the upstream got tenant %q and scopes %q, want [acme] and [admin:settings]", ten, sc)
			}
		})
	}
	// Unsigned, or signed with what a token could pass for a key: the
	// issuer's public key as an HMAC secret, or none at all.
	claims := payload(99, `"client_id":"acme-admin","tenant":"acme","scope":"admin:settings"`)
	good := mintRaw(t, hdr, claims)
	forged := map[string]string{
		"alg none":              x([]byte(`{"alg":"none"}`)) + "." + x([]byte(claims)) + ".",
		"alg none, signature":   x([]byte(`{"alg":"none"}`)) + "." + x([]byte(claims)) + good[strings.LastIndexByte(good, '.'):],
		"HS256 with public key": hs256(`{"alg":"HS256","kid":"demo-1"}`, claims, demoPub),
		"HS256 with JWKS text":  hs256(`{"alg":"HS256"}`, claims, []byte(`{"kty":"OKP","crv":"Ed25519","x":"lgXeSIRAyXwmOjbRiQGZ7YVoYx8XviIq9Kl4GWEV5x0"}`)),
		"signature padded":      good + "=",
		"signature other bits":  good[:len(good)-1] + string(good[len(good)-1]^1),
	}
	for name, tok := range forged {
		n := len(up.received())
		if r := do(t, st.addr, "PUT", "/v1/admin/settings", bearer(tok), ""); r.status != 401 || len(up.received()) != n {
			t.Errorf("%s: got %d and the upstream got %d request(s), want 401 and none", name, r.status, len(up.received())-n)
		}
	}
}

// TestReview40PathVariants holds that no spelling of a privileged path
// reaches the service for a credential without its scope, and that a
// spelling the sidecar admits through a weaker route reaches the service
// as that route's path, one segment under /v1/users/, never as the
// privileged one: dot segments plain and escaped, doubled slashes,
// escaped letters, case, a trailing slash or dot, path parameters,
// escaped slashes and backslashes, escapes encoded twice, overlong UTF-8,
// absolute form, and method override headers.
func TestReview40PathVariants(t *testing.T) {
	st, up := startRecorded(t, nil)
	targets := []string{
		"/v1/admin/settings", "/v1//admin/settings", "/v1/./admin/settings", "/v1/users/../admin/settings",
		"/v1/users/%2e%2e/admin/settings", "/v1/users/.%2E/admin/settings", "/v1/%61dmin/settings",
		"/V1/ADMIN/SETTINGS", "/v1/admin/settings/", "/v1/admin/settings/.", "/v1/admin/settings.",
		"/v1/admin/settings;x=1", "/v1/admin;/settings", "/v1/users/x%2F..%2F..%2Fadmin%2Fsettings",
		"/v1/users/x%5C..%5C..%5Cadmin%5Csettings", "/v1/users/%252e%252e/admin/settings",
		"/v1/users/%25%32%65%25%32%65/admin/settings", "/v1/users/%C0%AE%C0%AE/admin/settings",
		"/v1/users/..\\admin\\settings", "http://svc/v1/admin/settings", "/v1/admin/settings%00",
		"/v1/admin/settings%20", "/v1/admin/settings#x", "/v1/users/%u002e%u002e/admin/settings",
		"/v1/users/./%61dmin", "/v1/users//settings/", // admitted as GET /v1/users/admin: the check is not vacuous
	}
	methods := []struct {
		method string
		extra  map[string]string
	}{
		{"PUT", nil},
		{"GET", map[string]string{"X-HTTP-Method-Override": "PUT"}},
		{"POST", map[string]string{"X-Method-Override": "PUT", "X-HTTP-Method": "PUT", "X-Original-Method": "PUT"}},
		{"HEAD", nil},
	}
	admitted := 0
	for _, m := range methods {
		for _, target := range targets {
			h := key(hrisKey)
			for k, v := range m.extra {
				h[k] = v
			}
			n := len(up.received())
			r := do(t, st.addr, m.method, target, h, "")
			got := up.received()[n:]
			if len(got) == 0 {
				if r.status == 200 {
					t.Errorf("%s %s: 200 without a request to the upstream", m.method, target)
				}
				continue
			}
			admitted += len(got)
			for _, g := range got {
				path, _, _ := strings.Cut(g.uri, "?")
				seg, ok := strings.CutPrefix(path, "/v1/users/")
				if g.method != m.method || !ok || seg == "" || strings.ContainsAny(seg, "/\\") || seg == "." || seg == ".." {
					t.Errorf("%s %s with a key lacking admin:settings: answered %d, the upstream got %s %s", m.method, target, r.status, g.method, g.uri)
				}
				for k := range m.extra {
					if vs := g.values(strings.ToLower(k)); len(vs) > 0 {
						t.Errorf("%s %s: the upstream got %s: %q", m.method, target, k, vs)
					}
				}
			}
		}
	}
	if admitted == 0 {
		t.Error("no spelling reached the upstream through GET /v1/users/{id}: the check above checked nothing")
	}
}

// TestReview40JWKSAbuse holds, over a real sidecar reading its keys from
// a real loopback JWKS endpoint, what a client sending tokens of made-up
// kids can make of the endpoint: a flood of them costs the provider one
// fetch; while that fetch hangs, a made-up kid waits no longer than the
// refetch wait and a token of a held key is verified at once; and a set
// over 1 MiB, or a redirect to cleartext, replaces no held key, so the
// issuer's tokens keep passing.
func TestReview40JWKSAbuse(t *testing.T) {
	const (
		normal = iota
		slow
		huge
		cleartext
	)
	claims := func(i int) string {
		c := demoClaims("acme-hris", "acme", "read:users")
		c["jti"] = fmt.Sprintf("jwks-%d", i)
		b, _ := json.Marshal(c)
		return string(b)
	}
	unknownKid := func(i int) string {
		return mintRaw(t, fmt.Sprintf(`{"alg":"EdDSA","typ":"at+jwt","kid":"made-up-%d"}`, i), claims(i))
	}
	held := func(i int) string { return mintRaw(t, `{"alg":"EdDSA","typ":"at+jwt","kid":"demo-1"}`, claims(1000+i)) }
	otherKey, err := newEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	other := base64.RawURLEncoding.EncodeToString(otherKey.Public().(ed25519.PublicKey))
	setup := func(t *testing.T) (*stack, *jwksHost, *atomic.Int32, *atomic.Int64) {
		st := startStack(t, func(c *Config) { c.TokenFailures = limiter.NewLimit(1000, time.Second, 1000) })
		var mode atomic.Int32
		var plain atomic.Int64
		h := serveJWKSWith(t, st, func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/plain":
				plain.Add(1)
			case mode.Load() == slow:
				time.Sleep(4 * time.Second)
			case mode.Load() == huge:
				// Another key under demo-1: taken, it would refuse the held key's tokens.
				io.WriteString(w, `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"demo-1","x":"`+other+`"}],"pad":"`+strings.Repeat("a", 2<<20)+`"}`)
				return
			case mode.Load() == cleartext:
				http.Redirect(w, r, "http://"+r.Host+"/plain", http.StatusFound)
				return
			}
			io.WriteString(w, demoJWKS)
		})
		if r := do(t, st.addr, "GET", "/v1/users/9", bearer(held(0)), ""); r.status != 200 {
			t.Fatalf("token of the held key: %d %s, want 200", r.status, r.body)
		}
		return st, h, &mode, &plain
	}

	t.Run("made-up kids", func(t *testing.T) {
		st, h, _, _ := setup(t)
		before := h.fetches.Load()
		for i := range 30 {
			if r := do(t, st.addr, "GET", "/v1/users/9", bearer(unknownKid(i)), ""); r.status != 401 {
				t.Fatalf("made-up kid %d: %d, want 401", i, r.status)
			}
		}
		if got := h.fetches.Load() - before; got > 1 {
			t.Errorf("30 tokens of made-up kids cost the provider %d fetches, want at most 1", got)
		}
	})
	t.Run("hanging endpoint", func(t *testing.T) {
		st, _, mode, _ := setup(t)
		mode.Store(slow)
		start := time.Now()
		done := make(chan int, 1)
		go func() { done <- do(t, st.addr, "GET", "/v1/users/9", bearer(unknownKid(0)), "").status }()
		time.Sleep(200 * time.Millisecond) // its refetch is hanging
		t0 := time.Now()
		if r := do(t, st.addr, "GET", "/v1/users/9", bearer(held(1)), ""); r.status != 200 || time.Since(t0) > time.Second {
			t.Errorf("a new token of the held key while the refetch hangs: %d after %v, want 200 at once", r.status, time.Since(t0))
		}
		if s := <-done; s != 401 || time.Since(start) > 3500*time.Millisecond {
			t.Errorf("a made-up kid while the refetch hangs: %d after %v, want 401 within the refetch wait (2s)", s, time.Since(start))
		}
	})
	for _, tc := range []struct {
		name string
		mode int32
	}{{"set over 1 MiB", huge}, {"redirect to cleartext", cleartext}} {
		t.Run(tc.name, func(t *testing.T) {
			st, h, mode, plain := setup(t)
			mode.Store(tc.mode)
			before := h.fetches.Load()
			if r := do(t, st.addr, "GET", "/v1/users/9", bearer(unknownKid(0)), ""); r.status != 401 {
				t.Fatalf("made-up kid: %d, want 401", r.status)
			}
			if h.fetches.Load() == before {
				t.Fatal("the made-up kid fetched nothing: the check below checks nothing")
			}
			if r := do(t, st.addr, "GET", "/v1/users/9", bearer(held(2)), ""); r.status != 200 {
				t.Errorf("a new token of the held key after the endpoint answered a %s: %d, want 200 (the held keys kept)", tc.name, r.status)
			}
			if n := plain.Load(); n != 0 {
				t.Errorf("the cleartext redirect was followed %d times, want never", n)
			}
		})
	}
}

// TestReview40APIKeyShapes holds, over a real socket, that an API key is
// taken only as written: not in another case, not with another key's
// secret or id, not with a byte more, escaped or split, not under
// another scheme than Bearer, and never beside a second credential; and
// that an admitted key reaches the service as its key id alone.
func TestReview40APIKeyShapes(t *testing.T) {
	st, up := startRecorded(t, nil)
	hrisSecret, adminSecret := hrisKey[len("pk_acmehris1_"):], adminKey[len("pk_acmeadm1_"):]
	cases := []struct {
		name    string
		headers string
		status  int
	}{
		{"key", "X-API-Key: " + hrisKey, 200},
		{"key in Bearer", "Authorization: Bearer " + hrisKey, 200},
		{"key in bearer, lower case", "Authorization: bearer " + hrisKey, 200},
		{"key padded", "X-API-Key: \t " + hrisKey + " \t", 200},
		{"prefix in upper case", "X-API-Key: PK_" + hrisKey[3:], 401},
		{"id in upper case", "X-API-Key: pk_ACMEHRIS1_" + hrisSecret, 401},
		{"id of another key", "X-API-Key: pk_acmeadm1_" + hrisSecret, 401},
		{"secret of another key", "X-API-Key: pk_acmehris1_" + adminSecret, 401},
		{"a byte more", "X-API-Key: " + hrisKey + "x", 401},
		{"a byte less", "X-API-Key: " + hrisKey[:len(hrisKey)-1], 401},
		{"escaped", "X-API-Key: " + strings.Replace(hrisKey, "D", "%44", 1), 401},
		{"split by a space", "X-API-Key: " + hrisKey[:20] + " " + hrisKey[20:], 401},
		{"Basic", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(hrisKey+":")), 401},
		{"Bearer and a tab", "Authorization: Bearer\t" + hrisKey, 401},
		{"Token scheme", "Authorization: Token " + hrisKey, 401},
		{"revoked key", "X-API-Key: " + revokedKey, 401},
		{"another tenant's key, scope lacking", "X-API-Key: " + globexKey, 403},
		{"over 256 bytes", "X-API-Key: pk_acmehris1_" + strings.Repeat("A", 250), 401},
		{"two keys", "X-API-Key: " + hrisKey + "\r\nX-API-Key: " + hrisKey, 400},
		{"key and Bearer", "X-API-Key: " + hrisKey + "\r\nAuthorization: Bearer " + hrisKey, 400},
		{"key in a Cookie", "Cookie: X-API-Key=" + hrisKey, 401},
	}
	for _, tc := range cases {
		n := len(up.received())
		r := raw(t, st.addr, "GET /v1/users HTTP/1.1\r\nHost: svc\r\n"+tc.headers+"\r\nConnection: close\r\n\r\n")
		if r.status != tc.status {
			t.Errorf("%s: got %d %s, want %d", tc.name, r.status, r.body, tc.status)
			continue
		}
		if tc.status != 200 {
			if got := len(up.received()) - n; got != 0 {
				t.Errorf("%s: answered %d, and the upstream got %d request(s)", tc.name, r.status, got)
			}
			continue
		}
		got := up.only(t, n)
		if id := got.values("x-portcullis-key-id"); len(id) != 1 || id[0] != "acmehris1" || len(got.values("x-api-key")) > 0 || len(got.values("authorization")) > 0 {
			t.Errorf("%s: the upstream got key id %q, X-API-Key %q, Authorization %q; want [acmehris1] and no credential",
				tc.name, id, got.values("x-api-key"), got.values("authorization"))
		}
	}
}

// Finding: the headers in which a platform in front of a service says a
// request is its own or names the client's address went on as the client
// wrote them: App Engine's X-Appengine-User-Is-Admin, -User-Email and
// X-Appengine-Cron (which App Engine apps take as proof that App Engine
// sent the request), Cloud Tasks' X-Cloudtasks-*, Envoy's
// X-Envoy-Internal and X-Envoy-External-Address (a mesh service's trusted
// client address), Azure Front Door's X-Azure-FDID (the id a service
// compares to accept only its own Front Door) and X-Azure-ClientIP,
// CloudFront's CloudFront-Viewer-Address, and Cloudflare's
// CF-Connecting-IPv6 and Cf-Pseudo-IPv4 beside the CF-Connecting-IP
// dropped already. They are removed as the other client-address and
// proxy headers are.
func TestPlatformTrustHeadersDropped(t *testing.T) {
	forged := []string{"X-Appengine-User-Is-Admin", "X-AppEngine-User-Email", "X-Appengine-Cron", "X-Cloudtasks-Queuename",
		"X-Envoy-Internal", "x-envoy-external-address", "X-Azure-FDID", "X-Azure-ClientIP", "CloudFront-Viewer-Address",
		"CF-Connecting-IPv6", "Cf-Pseudo-IPv4"}
	kept := []string{"X-Appengine", "X-Envoy", "X-Azure", "CloudFront", "CF-Ray", "X-Cloud-Trace-Context"}
	if through := sentThrough(t, forged, kept, "1"); len(through) > 0 { // certheader_test.go
		t.Errorf("the upstream got %d of %d platform trust headers as the client wrote them: %s; want none", len(through), len(forged), strings.Join(through, ", "))
	}
}
