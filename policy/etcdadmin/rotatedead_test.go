package etcdadmin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// Under lifecycle.privileged_key_approval a new key for a privileged
// client needs a second person's approval, and so does rotating a live
// one (TestRotatingAPrivilegedKeyNeedsAnApproval). Rotating a key that
// every sidecar already refuses (past max_key_age, or its not_after) is
// no rotation: it issues a working credential where there was none, and
// is refused, approval or not, for keys create --approval. Before, a key
// of acme-admin dead for months rotated into a fresh one with no
// approval.
func TestRotatingADeadPrivilegedKeyNeedsAnApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := time.Now().UTC()
	a := New(dial(t, shared), newPrefix(t)).WithClock(func() time.Time { return clock })
	doc := bytes.Replace(lifecyclePolicy(t), []byte("  require_ticket: true"), []byte("  require_ticket: true\n  privileged_key_approval: true"), 1)
	push(t, a, doc)
	alice, bob := Meta{Actor: "alice", Reason: "export job key", Ticket: "CHG-30"}, Meta{Actor: "bob", Ticket: "CHG-30"}
	approved := func(client, route string) Meta {
		t.Helper()
		m := alice
		if needsKeyApproval(mustDoc(t, doc), client) {
			ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: client, Route: route}, alice)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", bob); err != nil {
				t.Fatal(err)
			}
			m.Approval = ap.ID
		}
		return m
	}
	newKey := func(client string) string {
		t.Helper()
		_, spec, err := a.CreateKey(ctx, client, 0, approved(client, KeysCreateRoute))
		if err != nil {
			t.Fatal(err)
		}
		return spec.ID
	}
	live, dead, plain := newKey("acme-admin"), newKey("acme-admin"), newKey("acme-hris")
	if _, _, err := a.RotateKey(ctx, live, time.Hour, approved("acme-admin", KeysRotateRoute)); err != nil {
		t.Errorf("rotating a live key of a privileged client with an approval: %v", err)
	}
	clock = clock.Add(721 * time.Hour) // past max_key_age 720h
	if _, _, err := a.RotateKey(ctx, dead, time.Hour, approved("acme-admin", KeysRotateRoute)); !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), "stopped being valid") {
		t.Errorf("rotating a key of acme-admin past max_key_age: %v, want ErrNotApproved (keys create --approval)", err)
	}
	if _, _, err := a.RotateKey(ctx, plain, time.Hour, alice); err != nil {
		t.Errorf("rotating a dead key of a client without a privileged scope: %v, want it rotated", err)
	}
}

func mustDoc(t *testing.T, doc []byte) *policy.Document {
	t.Helper()
	d, err := policy.Load("policy", doc)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
