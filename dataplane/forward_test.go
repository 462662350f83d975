package dataplane

import (
	"testing"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

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
	// The token goes on as signed, with a scope the client is not granted
	// (acme-hris holds read:users only); the scopes the service must read
	// are the sidecar's, the claim's that the client also holds.
	wide := mint(t, demoClaims("acme-hris", "acme", "read:users admin:settings"))
	if r := do(t, st.addr, "GET", "/v1/users/9", bearer(wide), ""); r.status != 200 {
		t.Fatalf("wide token: got %d %s, want 200", r.status, r.body)
	}
	if h := st.up.received()[1].headers; h["authorization"] != "Bearer "+wide || h["x-portcullis-scopes"] != "read:users" {
		t.Errorf("wide token: upstream Authorization %q, X-Portcullis-Scopes %q; want the token as signed and read:users",
			h["authorization"], h["x-portcullis-scopes"])
	}
	// An API key is never forwarded, whatever an issuer says.
	if r := do(t, st.addr, "GET", "/v1/users/9", map[string]string{"Authorization": "Bearer " + hrisKey}, ""); r.status != 200 {
		t.Fatalf("api key: got %d %s, want 200", r.status, r.body)
	}
	if got, ok := st.up.received()[2].headers["authorization"]; ok {
		t.Errorf("upstream Authorization = %q for an API key request, want absent", got)
	}
}

func TestAllowedForwardsNormalisedWithIdentity(t *testing.T) {
	st := startStack(t, nil)
	r := do(t, st.addr, "GET", "/v1//users/./42?expand=1", map[string]string{
		"X-API-Key":           hrisKey,
		"X-Portcullis-Tenant": "globex",
		"x-portcullis-scopes": "admin:settings",
		"X-Portcullis-Admin":  "true", // not one the sidecar sets: only stripping removes it
		"Connection":          "close, X-Secret-Hop",
		"X-Secret-Hop":        "1",
		"X-Request-ID":        "req-123",
	}, "")
	if r.status != 200 || r.body != "upstream ok" {
		t.Fatalf("got %d %q, want 200 from upstream", r.status, r.body)
	}
	got := st.up.received()
	if len(got) != 1 {
		t.Fatalf("upstream got %d requests, want 1", len(got))
	}
	u := got[0]
	if u.uri != "/v1/users/42?expand=1" {
		t.Errorf("upstream uri = %q, want the normalised /v1/users/42?expand=1", u.uri)
	}
	want := map[string]string{
		"x-portcullis-tenant": "acme", "x-portcullis-client": "acme-hris", "x-portcullis-key-id": "acmehris1",
		"x-portcullis-scopes": "read:users write:records", "x-portcullis-auth-method": "api_key", "x-request-id": "req-123",
	}
	for k, v := range want {
		if u.headers[k] != v {
			t.Errorf("upstream header %s = %q, want %q", k, u.headers[k], v)
		}
	}
	for _, k := range []string{"x-api-key", "authorization", "x-secret-hop", "x-portcullis-admin"} {
		if _, ok := u.headers[k]; ok {
			t.Errorf("upstream received %s; it must be stripped", k)
		}
	}
	rec := st.sink.last(t)
	if rec.Decision != audit.Allowed || rec.Status != 200 || rec.Tenant != "acme" || rec.Client != "acme-hris" ||
		string(rec.KeyID()) != "acmehris1" || rec.Route != "/v1/users/{id}" || string(rec.Path()) != "/v1/users/42" ||
		string(rec.RequestID()) != "req-123" || rec.AuthMethod != audit.AuthAPIKey || rec.PolicyRevision != 1 {
		t.Errorf("audit record = %+v", rec)
	}
}
