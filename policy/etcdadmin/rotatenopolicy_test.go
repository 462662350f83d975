package etcdadmin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A policy in etcd that does not load, or none at all, is written with
// one etcdctl command of the operator role (or deleted by mistake:
// `etcdctl del --prefix <prefix>/policy`). The sidecars keep the policy
// they had, so acme-admin's successor is a live privileged key; the
// push of the same document afterwards weakens nothing. RotateKey took
// such a policy for one requiring nothing, and made the successor
// without an approval.
func TestRotateWhileThePolicyDoesNotLoadNeedsAnApproval(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		spoil func(t *testing.T, a *Admin)
	}{
		{"unloadable", func(t *testing.T, a *Admin) {
			if _, err := a.cli.Put(context.Background(), a.k.Policy(), "routes: [\n"); err != nil {
				t.Fatal(err)
			}
		}},
		{"deleted", func(t *testing.T, a *Admin) {
			if _, err := a.cli.Delete(context.Background(), a.k.Policy()); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			r := newRotateRig(t)
			// Asked and granted before: none can be asked without a
			// policy that loads (RequestApproval reads it).
			id := r.grantedFor("acme-admin", KeysRotateRoute)
			c.spoil(t, r.a)
			_, next, err := r.a.RotateKey(ctx, r.old, time.Hour, r.alice)
			if !errors.Is(err, ErrNotApproved) {
				t.Fatalf("rotating acme-admin's key without an approval, the policy in etcd %s: made %s (%v); want ErrNotApproved", c.name, next.ID, err)
			}
			if k, _, err := r.a.etcdKey(ctx, r.old); err != nil || k.NotAfter == "" {
				t.Fatalf("key %s after the refused rotation: %+v, %v", r.old, k, err)
			}
			// With an approval for the client it rotates, as under the
			// policy the sidecars keep.
			if _, _, err := r.a.RotateKey(ctx, r.old, time.Hour, withApproval(r.alice, id)); err != nil {
				t.Errorf("rotating with a granted approval, the policy in etcd %s: %v", c.name, err)
			}
		})
	}
}

// With no document that loads at all, in etcd or its history (both
// written or deleted by hand), nothing says whose key a successor may be
// made alone: a rotation is refused, an ordinary client's too, naming
// what to do (push a policy; keys revoke needs none), and the old key is
// left as it was.
func TestRotateWithNoPolicyThatLoadsIsRefusedNamingWhatToDo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRotateRig(t)
	_, plain, err := r.a.CreateKey(ctx, "acme-hris", 0, r.alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.a.cli.Put(ctx, r.a.k.Policy(), "routes: [\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.a.cli.Delete(ctx, r.a.k.HistoryDir(), clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	_, next, err := r.a.RotateKey(ctx, plain.ID, time.Hour, r.alice)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "push one first") || !strings.Contains(err.Error(), "keys revoke") {
		t.Fatalf("rotating acme-hris's key with no policy that loads: made %q (%v); want ErrNotFound saying to push one or revoke", next.ID, err)
	}
	if k, _, err := r.a.etcdKey(ctx, plain.ID); err != nil || k.NotAfter != plain.NotAfter {
		t.Fatalf("key %s after the refused rotation: %+v, %v; want it as it was", plain.ID, k, err)
	}
}
