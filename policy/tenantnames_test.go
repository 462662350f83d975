package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestTenantNamesLoad: tenant_params and tenant_cookies name the
// parameters and cookies a service reads a tenant from beyond "tenant";
// Compile keeps them in lower case. Load refuses a name that is not a
// token, one refused always, a repeat (in any case) and too many, naming
// the line and why; Compile refuses a document Load never checked.
func TestTenantNamesLoad(t *testing.T) {
	t.Parallel()
	d, err := Load("p.yaml", []byte(with(0, "tenant_params: [tenant_id, TenantId, org]", "tenant_cookies: [Org_ID]")))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compile(d, Live{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"tenant_id", "tenantid", "org"}; !slices.Equal(s.TenantParams, want) {
		t.Errorf("Snapshot.TenantParams %q, want %q", s.TenantParams, want)
	}
	if want := []string{"org_id"}; !slices.Equal(s.TenantCookies, want) {
		t.Errorf("Snapshot.TenantCookies %q, want %q", s.TenantCookies, want)
	}
	many := make([]string, MaxTenantNames+1)
	for i := range many {
		many[i] = "org" + itoa(i)
	}
	for _, c := range []struct{ doc, want string }{
		{"tenant_params: [tenant id]", `tenant_params: name "tenant id" must be a token`},
		{"tenant_params: [\"org=1\"]", `tenant_params: name "org=1" must be a token`},
		{`tenant_params: [""]`, `tenant_params: name "" must have 1 to 64 bytes`},
		{"tenant_params: [" + strings.Repeat("a", 65) + "]", `must have 1 to 64 bytes`},
		{"tenant_params: [Tenant]", `tenant_params: "Tenant" is refused on a route binding {tenant} always; leave it out`},
		{"tenant_params: [__tenant]", `tenant_params: "__tenant" is refused on a route binding {tenant} always`},
		{"tenant_cookies: [Abp.TenantId]", `tenant_cookies: "Abp.TenantId" is refused on a route binding {tenant} always`},
		{"tenant_params: [org, ORG]", `duplicate name (tenant_params, compared in any case) "org"`},
		{"tenant_cookies: [org, Org]", `duplicate name (tenant_cookies, compared in any case) "org"`},
		{"tenant_params: [" + strings.Join(many, ", ") + "]", `tenant_params: 17 names, at most 16`},
	} {
		_, err := Load("p.yaml", []byte(with(0, c.doc)))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "p.yaml:") {
			t.Errorf("%s: Load: %v; want an error at its line containing %q", c.doc, err, c.want)
		}
	}
	d.TenantCookies = []string{"tenant"}
	if _, err := Compile(d, Live{}); err == nil || !strings.Contains(err.Error(), "tenant_cookies") {
		t.Errorf("Compile of a document Load never checked, with tenant_cookies [tenant]: %v; want it refused", err)
	}
}
