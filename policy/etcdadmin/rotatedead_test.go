package etcdadmin

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// Under lifecycle.privileged_key_approval a new key for a privileged
// client needs a second person's approval; rotating a live key does not
// (the old key's holder keeps working). Rotating a key that every sidecar
// already refuses (past max_key_age, or its not_after) is not that: it
// issues a working credential where there was none. Before, a key of
// acme-admin dead for months rotated into a fresh one with no approval.
func TestRotatingADeadPrivilegedKeyNeedsAnApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := time.Now().UTC()
	a := New(dial(t, shared), newPrefix(t)).WithClock(func() time.Time { return clock })
	doc := bytes.Replace(lifecyclePolicy(t), []byte("  require_ticket: true"), []byte("  require_ticket: true\n  privileged_key_approval: true"), 1)
	push(t, a, doc)
	alice, bob := Meta{Actor: "alice", Reason: "export job key", Ticket: "CHG-30"}, Meta{Actor: "bob", Ticket: "CHG-30"}
	newKey := func(client string) string {
		t.Helper()
		m := alice
		if needsKeyApproval(mustDoc(t, doc), client) {
			ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: client, Route: KeysCreateRoute}, alice)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", bob); err != nil {
				t.Fatal(err)
			}
			m.Approval = ap.ID
		}
		_, spec, err := a.CreateKey(ctx, client, 0, m)
		if err != nil {
			t.Fatal(err)
		}
		return spec.ID
	}
	live, dead, plain := newKey("acme-admin"), newKey("acme-admin"), newKey("acme-hris")
	if _, _, err := a.RotateKey(ctx, live, time.Hour, alice); err != nil {
		t.Errorf("rotating a live key of a privileged client: %v", err)
	}
	clock = clock.Add(721 * time.Hour) // past max_key_age 720h
	if _, _, err := a.RotateKey(ctx, dead, time.Hour, alice); !errors.Is(err, ErrNotApproved) {
		t.Errorf("rotating a key of acme-admin past max_key_age: %v, want ErrNotApproved", err)
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
