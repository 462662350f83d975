package interop

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/dataplane"
	"github.com/portcullis/portcullis/policy"
)

// upstream is a real net/http service on loopback that records the
// headers of every request the sidecar forwards.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex // guards seen
	seen []http.Header
}

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.mu.Unlock()
		io.WriteString(w, "upstream ok")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) received() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]http.Header(nil), u.seen...)
}

// fositePolicy is examples/policy.yaml, read from disk, with the fosite
// provider added as an issuer (its JWKS fetched over loopback http, which
// policy validation allows only on loopback) and its client added as a
// client of tenant acme.
func fositePolicy(t testing.TB, p *provider) []byte {
	t.Helper()
	b, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	insert := func(section, entry string) {
		t.Helper()
		if strings.Count(doc, "\n"+section+":\n") != 1 {
			t.Fatalf("examples/policy.yaml: want one top-level %q section", section)
		}
		doc = strings.Replace(doc, "\n"+section+":\n", "\n"+section+":\n"+entry, 1)
	}
	insert("clients", `  - id: `+clientID+`
    tenant: `+tenantID+`
    owner: interop@acme.example
    scopes: [read:users]
    limit: {rate: 50/s, burst: 100}
`)
	insert("issuers", `  - id: fosite
    issuer: `+p.issuer+`
    jwks_url: `+p.issuer+`/jwks.json
    tenants: [`+tenantID+`]
    audiences: [`+audience+`]
    algorithms: [RS256]
    tenant_claim: tenant
    client_claim: client_id
    clock_skew: 30s
    max_lifetime: 1h
`)
	return []byte(doc)
}

// startSidecar serves the data plane on loopback in front of up, with the
// policy compiled from doc; it is shut down when t ends.
func startSidecar(t testing.TB, doc []byte, up *upstream) string {
	t.Helper()
	d, err := policy.Load("interop-policy.yaml", doc)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := policy.Compile(d, policy.Live{Revision: 1})
	if err != nil {
		t.Fatal(err)
	}
	store := &policy.Store{}
	store.Swap(snap)
	srv, err := dataplane.New(dataplane.Config{Store: store, Upstream: up.srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		srv.Close()
	})
	return ln.Addr().String()
}

// call sends method path with an Authorization header of token (none when
// empty) through the sidecar and returns the status and body.
func call(t testing.TB, addr, method, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestFositeThroughSidecar sends a token from the real fosite token
// endpoint through the whole sidecar: policy document, compile, JWKS
// fetched from the provider by the data plane, scope check, forwarding.
func TestFositeThroughSidecar(t *testing.T) {
	t.Parallel()
	p := startProvider(t)
	up := startUpstream(t)
	addr := startSidecar(t, fositePolicy(t, p), up)
	token := p.fetchToken(t, "read:users")

	if got, body := call(t, addr, "GET", "/v1/users/7", token); got != http.StatusOK || body != "upstream ok" {
		t.Fatalf("GET /v1/users/7 with the fosite token: got %d %q, want 200 \"upstream ok\"", got, body)
	}
	seen := up.received()
	if len(seen) != 1 {
		t.Fatalf("upstream got %d requests, want 1", len(seen))
	}
	for name, want := range map[string]string{
		"X-Portcullis-Auth-Method": "jwt",
		"X-Portcullis-Client":      clientID,
		"X-Portcullis-Tenant":      tenantID,
		"X-Portcullis-Scopes":      "read:users",
	} {
		if got := seen[0].Get(name); got != want {
			t.Errorf("upstream %s: got %q, want %q", name, got, want)
		}
	}

	denials := []struct {
		name, method, path, token string
		want                      int
	}{
		{"tampered signature", "GET", "/v1/users/7", tamper(token), http.StatusUnauthorized},
		{"no credential", "GET", "/v1/users/7", "", http.StatusUnauthorized},
		{"scope not in token", "POST", "/v1/records", token, http.StatusForbidden},
	}
	for _, d := range denials {
		if got, body := call(t, addr, d.method, d.path, d.token); got != d.want {
			t.Errorf("%s: %s %s got %d %q, want %d", d.name, d.method, d.path, got, body, d.want)
		}
	}
	if n := len(up.received()); n != 1 {
		t.Errorf("upstream got %d requests after the denials, want still 1", n)
	}
}
