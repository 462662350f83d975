package alert

import (
	"time"

	"github.com/portcullis/portcullis/policy"
)

// index is what the rules need to know of the policy: whose a key is,
// when it lapses, which clients hold privileged scopes, which routes are
// bulk. It is built once per policy and never modified.
type index struct {
	keyClient    map[string]string
	keyNotAfter  map[string]time.Time
	keyRevoked   map[string]bool
	clientTenant map[string]string
	tenants      map[string]bool // the policy's tenants (loose.go)
	privileged   map[string]bool // client id -> holds a privileged scope
	bulk         map[route]bool  // routes of kind bulk classes
}

// route is a route of the policy: method and path template.
type route struct{ method, path string }

func newIndex(d *policy.Document) *index {
	x := &index{keyClient: map[string]string{}, keyNotAfter: map[string]time.Time{}, keyRevoked: map[string]bool{},
		clientTenant: map[string]string{}, tenants: map[string]bool{}, privileged: map[string]bool{}, bulk: map[route]bool{}}
	if d == nil {
		return x
	}
	priv := map[string]bool{}
	for _, s := range d.Scopes {
		priv[s.Name] = s.Privileged
	}
	for _, t := range d.Tenants {
		x.tenants[t.ID] = true
	}
	for _, c := range d.Clients {
		x.clientTenant[c.ID] = c.Tenant
		for _, s := range c.Scopes {
			x.privileged[c.ID] = x.privileged[c.ID] || priv[s]
		}
	}
	for _, k := range d.Keys {
		x.keyClient[k.ID], x.keyRevoked[k.ID] = k.Client, k.Revoked
		if t, err := time.Parse(time.RFC3339, k.NotAfter); err == nil {
			x.keyNotAfter[k.ID] = t
		}
	}
	kinds := map[string]string{}
	for _, c := range d.Classes {
		kinds[c.Name] = c.Kind
	}
	for _, r := range d.Routes {
		if kinds[r.Class] == "bulk" {
			x.bulk[route{r.Method, r.Path}] = true
		}
	}
	return x
}
