package dataplane

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

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

func TestScopesAndPrivilegedClasses(t *testing.T) {
	st := startStack(t, nil)
	cases := []struct {
		name, method, target, key string
		headers                   map[string]string
		status                    int
		errName                   string
	}{
		{"wrong scope", "GET", "/v1/reports/7", hrisKey, nil, 403, "forbidden"},
		{"other tenant's scope", "GET", "/v1/users", globexKey, nil, 403, "forbidden"},
		{"privileged from loopback", "PUT", "/v1/admin/settings", adminKey, nil, 200, ""},
		{"privileged without scope", "PUT", "/v1/admin/settings", hrisKey, nil, 403, "forbidden"},
		{"integration admin from loopback", "POST", "/v1/integrations", adminKey, nil, 403, "network_denied"},
		{"spoofed forwarded-for", "POST", "/v1/integrations", adminKey, map[string]string{"X-Forwarded-For": "10.1.2.3"}, 403, "network_denied"},
		{"bulk export", "POST", "/v1/exports", adminKey, nil, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := key(c.key)
			for k, v := range c.headers {
				h[k] = v
			}
			r := do(t, st.addr, c.method, c.target, h, "")
			if r.status != c.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, c.status)
			}
			if c.errName != "" {
				if e := r.errorBody(t); e.Error != c.errName {
					t.Errorf("error = %q, want %q", e.Error, c.errName)
				}
			}
		})
	}
}

// TestMaxTokenAgeBindsEveryCredential: a privileged class's max_token_age
// bound JWTs alone, so a key made eleven months ago passed a class that
// asks for credentials issued in the last five minutes. An API key's age
// runs from its created_at (else not_before); a key that gives neither
// has no known age and is refused, as a JWT without iat is.
func TestMaxTokenAgeBindsEveryCredential(t *testing.T) {
	st := startStack(t, nil)
	doc := *loadExample(t).Doc
	doc.Classes = append([]policy.ClassSpec(nil), doc.Classes...)
	for i := range doc.Classes {
		if doc.Classes[i].Name == "privileged" {
			doc.Classes[i].MaxTokenAge = "5m"
			doc.Classes[i].AuthMethods = []string{"api_key", "jwt"}
		}
	}
	// Without max_key_age, which refuses a key of unknown age before this.
	doc.Lifecycle = nil
	now := time.Now()
	fresh, freshSpec := mustKey(t, "acme-admin", time.Time{}, time.Time{})
	freshSpec.CreatedAt = now.Add(-time.Minute).UTC().Format(time.RFC3339)
	byStart, byStartSpec := mustKey(t, "acme-admin", now.Add(-2*time.Minute), time.Time{})
	byStartSpec.CreatedAt = ""
	ageless, agelessSpec := mustKey(t, "acme-admin", time.Time{}, time.Time{})
	agelessSpec.CreatedAt, agelessSpec.NotBefore = "", ""
	swapWithKeys(t, st.store, &doc, freshSpec, byStartSpec, agelessSpec)
	cases := []struct {
		name   string
		key    string
		status int
	}{
		{"key created a minute ago", fresh, 200},
		{"key without created_at, not_before two minutes ago", byStart, 200},
		{"key created 2026-01-01 (the example's acmeadm1)", adminKey, 401},
		{"key with neither created_at nor not_before", ageless, 401},
	}
	for _, c := range cases {
		r := do(t, st.addr, "PUT", "/v1/admin/settings", key(c.key), "")
		if r.status != c.status {
			t.Errorf("%s: got %d %s, want %d", c.name, r.status, r.body, c.status)
			continue
		}
		if c.status == 401 {
			if e := r.errorBody(t); e.Error != "token_too_old" {
				t.Errorf("%s: error %q, want token_too_old", c.name, e.Error)
			}
		}
	}
	// Outside the privileged class the bound does not apply.
	if r := do(t, st.addr, "GET", "/v1/users", key(hrisKey), ""); r.status != 200 {
		t.Errorf("old key on a standard route: got %d %s, want 200", r.status, r.body)
	}
}
