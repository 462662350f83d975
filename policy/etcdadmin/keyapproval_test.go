package etcdadmin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Under lifecycle.privileged_key_approval a key for a client holding a
// privileged scope is created only with a granted approval for "keys
// create", whose use is spent in the transaction that writes the key; a
// client without a privileged scope needs none.
func TestCreateKeyNeedsApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	doc := lifecyclePolicy(t)
	doc = bytes.Replace(doc, []byte("  require_ticket: true"), []byte("  require_ticket: true\n  privileged_key_approval: true"), 1)
	push(t, a, doc)
	alice, bob := Meta{Actor: "alice", Reason: "key for the export job", Ticket: "CHG-21"}, Meta{Actor: "bob", Ticket: "CHG-21"}

	if _, _, err := a.CreateKey(ctx, "acme-hris", 0, alice); err != nil {
		t.Errorf("key for acme-hris (no privileged scope): %v, want created without an approval", err)
	}
	if _, _, err := a.CreateKey(ctx, "acme-admin", 0, alice); !errors.Is(err, ErrNotApproved) {
		t.Errorf("key for acme-admin without an approval: %v, want ErrNotApproved", err)
	}
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}, alice)
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	withApproval := alice
	withApproval.Approval = ap.ID
	if _, _, err := a.CreateKey(ctx, "acme-admin", 0, withApproval); !errors.Is(err, ErrNotApproved) {
		t.Errorf("key with a pending approval: %v, want ErrNotApproved", err)
	}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", bob); err != nil {
		t.Fatalf("GrantApproval: %v", err)
	}
	// A failed create spends no use: the ttl is beyond max_key_age.
	if _, _, err := a.CreateKey(ctx, "acme-admin", 10000*time.Hour, withApproval); !errors.Is(err, ErrKeyLifetime) {
		t.Errorf("key with ttl past max_key_age: %v, want ErrKeyLifetime", err)
	}
	_, spec, err := a.CreateKey(ctx, "acme-admin", 0, withApproval)
	if err != nil {
		t.Fatalf("key with a granted approval: %v", err)
	}
	if _, _, err := a.CreateKey(ctx, "acme-admin", 0, withApproval); !errors.Is(err, ErrNotApproved) {
		t.Errorf("second key on a single-use approval: %v, want ErrNotApproved", err)
	}
	evs, err := a.ListEvents(ctx, ap.Requested.Add(-time.Hour), ap.Requested.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	uses, created := 0, ""
	for _, e := range evs {
		switch {
		case e.Action == "approval.use" && e.Target == ap.ID:
			uses++
		case e.Action == ActionKeyCreate && e.Target == spec.ID:
			created = e.Details["approval"]
		}
	}
	if uses != 1 || created != ap.ID {
		t.Errorf("trail: %d approval.use events and key.create naming approval %q; want 1 and %q", uses, created, ap.ID)
	}
}

// The requester cannot grant their own approval by naming someone else
// as the approver, nor, with etcd authentication, by writing the grant
// as the same etcd user under another name.
func TestSelfApprovalInAnothersName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, examplePolicy(t))
	alice := Meta{Actor: "alice", Reason: "new key", Ticket: "CHG-22", EtcdUser: "ops-alice"}
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}, alice)
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", alice); !errors.Is(err, ErrSelfApproval) {
		t.Errorf("alice runs the grant naming bob: %v, want ErrSelfApproval", err)
	}
	sameUser := Meta{Actor: "bob", EtcdUser: "ops-alice"}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", sameUser); !errors.Is(err, ErrSelfApproval) {
		t.Errorf("grant as the requester's etcd user: %v, want ErrSelfApproval", err)
	}
	bob := Meta{Actor: "bob", EtcdUser: "ops-bob"}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", bob); err != nil {
		t.Errorf("grant by bob as his own etcd user: %v", err)
	}
}

// TestCreateKeyRefusesAnUnneededApproval: an approval named for a key
// that needs none (a client without a privileged scope, or
// privileged_key_approval off) was ignored: the key was made, the trail
// did not name the approval, and a mistyped id passed without a word. It
// is refused, naming the approval, and no key is made.
func TestCreateKeyRefusesAnUnneededApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, examplePolicy(t))
	meta := Meta{Actor: "alice", Ticket: "CHG-23", Approval: "apr_typo"}
	for _, client := range []string{"acme-hris", "acme-admin"} {
		if _, _, err := a.CreateKey(ctx, client, 0, meta); err == nil || !strings.Contains(err.Error(), `"apr_typo"`) {
			t.Errorf("key for %s naming an approval it does not need: %v; want refused naming it", client, err)
		}
	}
	keys, err := a.ListKeys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Source == "etcd" {
			t.Errorf("key %s made in etcd; want none", k.ID)
		}
	}
}
