package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/examples"
)

// TestDevStackOAuthStep is make demo's OAuth step against the stack
// `portcullis dev` runs (dev itself: etcd, the collector, the demo
// service and the sidecar as dev configures it): a JWT access token the
// demo issuer signed is 200, then 200 again from the cache, and one with
// the demo issuer's kid and claims but signed by another key is 401. A
// change once made dev refuse every valid token with 429
// token_failures_limited (dev set no token failure budget, and 0 made a
// budget that denies every take), and only reading make demo's output
// found it.
func TestDevStackOAuthStep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd")
	}
	f := devFlags{data: t.TempDir(), listen: freeAddr(t), upstream: freeAddr(t),
		admin: freeAddr(t), collector: freeAddr(t), prefix: "/portcullis/oauth", logLevel: "info"}
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dev(ctx, f, zerolog.New(logs)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("dev did not stop")
		}
		if t.Failed() {
			t.Logf("dev's log:\n%s", tail(logs.String(), 4000))
		}
	})
	poll(t, "the dev stack", func() bool {
		select {
		case err := <-done:
			t.Fatalf("dev stopped while starting: %v", err)
		default:
		}
		return get(t, "http://"+f.admin+"/readyz", "") == 200
	})

	seed, err := base64.RawURLEncoding.DecodeString(examples.DemoIssuerSeed)
	if err != nil {
		t.Fatal(err)
	}
	valid := signDemoToken(t, ed25519.NewKeyFromSeed(seed), "acme-hris", "acme", "read:users")
	_, forger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forged := signDemoToken(t, forger, "acme-hris", "acme", "read:users")
	for _, step := range []struct {
		what, token string
		want        int
	}{
		{"a token of the demo issuer", valid, 200},
		{"the same token again (from the cache)", valid, 200},
		{"a token with the demo issuer's kid signed by another key", forged, 401},
		{"the demo issuer's token after a forged one", valid, 200},
	} {
		code, body := bearerGet(t, "http://"+f.listen+"/v1/users/7", step.token)
		if code != step.want {
			t.Errorf("%s: %d %s, want %d", step.what, code, body, step.want)
		}
	}
}

// signDemoToken signs an access token of the demo issuer with key, as
// examples/demo's mintDemoToken does.
func signDemoToken(t *testing.T, key ed25519.PrivateKey, client, tenant, scope string) string {
	t.Helper()
	now := time.Now().Unix()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "EdDSA", "typ": "at+jwt", "kid": "demo-1"}) + "." + enc(map[string]any{
		"iss": "https://idp.demo.example", "aud": "portcullis-demo", "sub": "svc-" + client, "client_id": client,
		"tenant": tenant, "scope": scope, "jti": "dev-oauth-step", "iat": now, "nbf": now, "exp": now + 600,
	})
	return signing + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(signing)))
}

// bearerGet sends GET url with the token as a bearer credential and
// returns the status and body.
func bearerGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
