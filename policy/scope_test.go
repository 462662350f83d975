package policy

import (
	"strings"
	"testing"
)

// clients[].limit.scope global compiles to Client.Global; local or no
// scope keeps the limit local; another value, or a scope on a tenant or
// class limit, is a problem at its line (issue 17).
func TestClientLimitScope(t *testing.T) {
	t.Parallel()
	const doc = `version: 1
tenants: [{id: acme, limit: {rate: 100/s%s}}]
scopes: [{name: read:users, description: Read users}]
clients:
  - {id: g, tenant: acme, scopes: [read:users], limit: {rate: 5/s, scope: global}}
  - {id: l, tenant: acme, scopes: [read:users], limit: {rate: 5/s, scope: local}}
  - {id: n, tenant: acme, scopes: [read:users], limit: {rate: 5/s}}
`
	d, err := Load("p.yaml", []byte(strings.Replace(doc, "%s", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := Compile(d, Live{})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"g": true, "l": false, "n": false} {
		if got := snap.Clients[id].Global; got != want {
			t.Errorf("client %s Global = %v, want %v", id, got, want)
		}
	}
	for _, tt := range []struct{ doc, want string }{
		{strings.Replace(doc, "%s", ", scope: global", 1), `p.yaml:2: tenant "acme" limit: scope applies only to clients[].limit`},
		{strings.Replace(strings.Replace(doc, "%s", "", 1), "scope: local", "scope: cluster", 1), `p.yaml:6: client "l" limit: scope "cluster" must be local or global`},
	} {
		_, err := Load("p.yaml", []byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load = %v, want a problem %q", err, tt.want)
		}
	}
}
