package etcdadmin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy"
)

// TestPushRefusesATenantLikeParam (review88): a route template naming
// the tenant {tenant_id} or {org} binds nothing, and was pushed to every
// sidecar without a word, its author taking the route for bound. The
// push is refused now, pointing at {tenant}; the same route with
// {tenant} is pushed.
func TestPushRefusesATenantLikeParam(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	a := New(cli, newPrefix(t))
	doc := examplePolicy(t)
	for _, seg := range []string{"{tenant_id}", "{org}"} {
		bad := bytes.Replace(doc, []byte("routes:\n"), []byte("routes:\n  - {method: GET, path: \"/v2/orgs/"+seg+"/users\", class: standard, scopes: [read:users]}\n"), 1)
		_, err := a.PushPolicy(context.Background(), bad, 0, meta)
		if !errors.Is(err, policy.ErrInvalid) || !strings.Contains(err.Error(), "parameter "+seg+" binds nothing") || !strings.Contains(err.Error(), "name it {tenant}") {
			t.Errorf("push of a route with %s: %v; want it refused, pointing at {tenant}", seg, err)
		}
	}
	good := bytes.Replace(doc, []byte("routes:\n"), []byte("routes:\n  - {method: GET, path: \"/v2/orgs/{tenant}/users\", class: standard, scopes: [read:users]}\n"), 1)
	if _, err := a.PushPolicy(context.Background(), good, 0, meta); err != nil {
		t.Errorf("push of the route with {tenant}: %v", err)
	}
}
