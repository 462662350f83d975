package interop

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/storage"
	fositejwt "github.com/ory/fosite/token/jwt"
)

// The provider's one client. Its id is also a client of the test policy
// (tenant acme), which is how the sidecar maps a token onto the policy.
const (
	clientID     = "acme-fosite"
	clientSecret = "interop-test-secret-not-used-anywhere-else"
	audience     = "portcullis-interop"
	tenantID     = "acme"
	keyID        = "fosite-rs256-1"
)

// provider is a real OAuth 2.0 authorization server built with ory/fosite,
// serving on loopback: POST /token (client credentials grant, RFC 6749
// §4.4) issues RS256 JWT access tokens with fosite's own JWT access-token
// strategy, and GET /jwks.json publishes the public signing key.
type provider struct {
	srv    *httptest.Server
	issuer string // http://127.0.0.1:port, also fosite's AccessTokenIssuer
	oauth  fosite.OAuth2Provider
	jwks   []byte
}

// startProvider starts the provider; it is closed when t ends.
func startProvider(t testing.TB) *provider {
	t.Helper()
	p := &provider{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /jwks.json", p.serveJWKS)
	// The listener exists before Start, so the issuer URL can go into the
	// fosite config before any handler runs.
	p.srv = httptest.NewUnstartedServer(mux)
	p.issuer = "http://" + p.srv.Listener.Addr().String()

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// fosite's DefaultSigner takes a go-jose v3 JSONWebKey; go-jose then
	// writes its KeyID into the token's "kid" header.
	priv := &jose.JSONWebKey{Key: rsaKey, KeyID: keyID, Algorithm: string(jose.RS256), Use: "sig"}
	p.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{priv.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	p.oauth = newFosite(t, p.issuer, priv)
	p.srv.Start()
	t.Cleanup(p.srv.Close)
	return p
}

// newFosite composes fosite with the client credentials grant and the JWT
// access-token strategy, which signs with priv.
func newFosite(t testing.TB, issuer string, priv *jose.JSONWebKey) fosite.OAuth2Provider {
	t.Helper()
	cfg := &fosite.Config{
		AccessTokenIssuer:   issuer,
		AccessTokenLifespan: 10 * time.Minute,
		GlobalSecret:        []byte("interop-hmac-secret-32-bytes-long!"),
		ScopeStrategy:       fosite.ExactScopeStrategy,
		// bcrypt's minimum cost: fosite's default of 12 costs seconds per
		// token request under the race detector.
		HashCost: 4,
	}
	ctx := context.Background()
	hash, err := cfg.GetSecretsHasher(ctx).Hash(ctx, []byte(clientSecret))
	if err != nil {
		t.Fatal(err)
	}
	store := storage.NewMemoryStore()
	store.Clients[clientID] = &fosite.DefaultClient{
		ID:         clientID,
		Secret:     hash,
		GrantTypes: []string{"client_credentials"},
		Scopes:     []string{"read:users"},
		Audience:   []string{audience},
	}
	keyGetter := func(context.Context) (any, error) { return priv, nil }
	strategy := &compose.CommonStrategy{
		CoreStrategy: compose.NewOAuth2JWTStrategy(keyGetter, compose.NewOAuth2HMACStrategy(cfg), cfg),
		Signer:       &fositejwt.DefaultSigner{GetPrivateKey: keyGetter},
	}
	return compose.Compose(cfg, store, strategy, compose.OAuth2ClientCredentialsGrantFactory)
}

// token is the token endpoint, written the way fosite's own example and
// Hydra write it: fosite authenticates the client and checks the requested
// scopes and audience against the client; the handler grants them and
// adds the claims an RFC 9068 access token carries that fosite leaves to
// the provider: sub and client_id (both the client for this grant,
// RFC 9068 §2.2) and the tenant.
func (p *provider) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := &oauth2.JWTSession{JWTClaims: &fositejwt.JWTClaims{}, JWTHeader: &fositejwt.Headers{}}
	ar, err := p.oauth.NewAccessRequest(ctx, r, sess)
	if err != nil {
		p.oauth.WriteAccessError(ctx, w, ar, err)
		return
	}
	for _, s := range ar.GetRequestedScopes() {
		ar.GrantScope(s)
	}
	for _, a := range ar.GetRequestedAudience() {
		ar.GrantAudience(a)
	}
	id := ar.GetClient().GetID()
	sess.JWTClaims.Subject = id
	sess.JWTClaims.Extra = map[string]any{"client_id": id, "tenant": tenantID}
	resp, err := p.oauth.NewAccessResponse(ctx, ar)
	if err != nil {
		p.oauth.WriteAccessError(ctx, w, ar, err)
		return
	}
	p.oauth.WriteAccessResponse(ctx, w, ar, resp)
}

func (p *provider) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Write(p.jwks)
}

// fetchToken runs the client credentials grant against the real token
// endpoint, authenticating with client_secret_post, and returns the
// access token.
func (p *provider) fetchToken(t testing.TB, scope string) string {
	t.Helper()
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {clientID},
		"client_secret": {clientSecret},
		"scope":         {scope},
		"audience":      {audience},
	}
	resp, err := http.Post(p.issuer+"/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Scope       string `json:"scope"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token response: %v", err)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		t.Fatalf("token endpoint: got %d %s: %s, want 200 with an access token", resp.StatusCode, body.Error, body.Description)
	}
	if !strings.EqualFold(body.TokenType, "bearer") {
		t.Errorf("token_type: got %q, want bearer", body.TokenType)
	}
	return body.AccessToken
}
