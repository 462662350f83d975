package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestTenantHeadersLoad: tenant_headers names the headers a service reads
// a tenant from beyond the built-in six; Compile keeps them in lower
// case. Load refuses a name the data plane could never see or that the
// sidecar owns, a built-in one, a repeat (in any case) and too many,
// naming the line and why.
func TestTenantHeadersLoad(t *testing.T) {
	t.Parallel()
	d, err := Load("p.yaml", []byte(with(0, "tenant_headers: [X-Org-Id, x-workspace-id]")))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compile(d, Live{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"x-org-id", "x-workspace-id"}; !slices.Equal(s.TenantHeaders, want) {
		t.Errorf("Snapshot.TenantHeaders %q, want %q", s.TenantHeaders, want)
	}
	many := make([]string, MaxTenantHeaders+1)
	for i := range many {
		many[i] = "X-Org-" + itoa(i)
	}
	for _, c := range []struct{ list, want string }{
		{"[X_Org]", `tenant_headers: header name "X_Org" must hold only letters, digits and '-'`},
		{"[X-Org.Id]", `tenant_headers: header name "X-Org.Id" must hold only letters, digits and '-'`},
		{`[""]`, `tenant_headers: header name "" must have 1 to 64 bytes`},
		{"[X-Tenant-Id]", `tenant_headers: header "X-Tenant-Id" is checked always; leave it out`},
		{"[X-Portcullis-Tenant]", `tenant_headers: header "X-Portcullis-Tenant" is one the sidecar sets, removes or reads itself`},
		{"[Cookie]", `tenant_headers: header "Cookie" is one the sidecar sets, removes or reads itself`},
		{"[X-Org, x-org]", `duplicate tenant header "x-org"`},
		{"[" + strings.Join(many, ", ") + "]", `tenant_headers: 17 names, at most 16`},
	} {
		_, err := Load("p.yaml", []byte(with(0, "tenant_headers: "+c.list)))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "p.yaml:") {
			t.Errorf("tenant_headers: %s: Load: %v; want an error at its line containing %q", c.list, err, c.want)
		}
	}
	// refuse_headers: the same names, and none a tenant header too.
	d2, err := Load("p.yaml", []byte(with(0, "refuse_headers: [X-Auth-Token, x-access-token]")))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Compile(d2, Live{}); err != nil || !slices.Equal(s.RefuseHeaders, []string{"x-auth-token", "x-access-token"}) {
		t.Errorf("refuse_headers: Compile = %v, %v; want [x-auth-token x-access-token]", s, err)
	}
	for _, c := range []struct{ doc, want string }{
		{"refuse_headers: [Authorization]", `refuse_headers: header "Authorization" is one the sidecar sets, removes or reads itself`},
		{"refuse_headers: [X_Auth_Token]", `refuse_headers: header name "X_Auth_Token" must hold only letters, digits and '-'`},
		{"refuse_headers: [X-Auth-Token, x-auth-token]", `duplicate header "x-auth-token"`},
		{"tenant_headers: [X-Org-Id]\nrefuse_headers: [x-org-id]", `refuse_headers: header "x-org-id" is in tenant_headers too`},
	} {
		_, err := Load("p.yaml", []byte(with(0, strings.Split(c.doc, "\n")...)))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "p.yaml:") {
			t.Errorf("%s: Load: %v; want an error at its line containing %q", c.doc, err, c.want)
		}
	}
	d.TenantHeaders = []string{"X_Org"}
	if _, err := Compile(d, Live{}); err == nil || !strings.Contains(err.Error(), "tenant_headers") {
		t.Errorf("Compile of a document Load never checked, with tenant_headers [X_Org]: %v; want it refused", err)
	}
}
