package etcdadmin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// Under lifecycle.privileged_key_approval a key of a client holding a
// privileged scope takes a second person's approval to make, and so does
// its rotation: the successor is a new secret of a privileged credential,
// valid for the old key's whole lifetime again, and the old holder keeps
// the old one for the overlap. Before, keys create needed the approval
// and keys rotate of the same client's live key did not: one operator
// made a fresh privileged credential alone (review193). The rotation
// spends a "keys rotate" approval for the client in the transaction that
// writes both records, naming it in the key.rotate event; one for a
// client that needs none is refused as unused, as keys create does.
func TestRotatingAPrivilegedKeyNeedsAnApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	doc := bytes.Replace(lifecyclePolicy(t), []byte("  require_ticket: true"), []byte("  require_ticket: true\n  privileged_key_approval: true"), 1)
	push(t, a, doc)
	alice, bob := Meta{Actor: "alice", Reason: "rotate the console key", Ticket: "CHG-60"}, Meta{Actor: "bob", Ticket: "CHG-60"}
	granted := func(client, route string) string {
		t.Helper()
		ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: client, Route: route}, alice)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", bob); err != nil {
			t.Fatal(err)
		}
		return ap.ID
	}
	_, old, err := a.CreateKey(ctx, "acme-admin", 0, withApproval(alice, granted("acme-admin", KeysCreateRoute)))
	if err != nil {
		t.Fatal(err)
	}

	_, _, err = a.RotateKey(ctx, old.ID, time.Hour, alice)
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), `--route "keys rotate"`) {
		t.Fatalf("rotating a key of acme-admin without an approval: %v; want ErrNotApproved saying how to ask for one", err)
	}
	if k, _, err := a.etcdKey(ctx, old.ID); err != nil || k.NotAfter != old.NotAfter {
		t.Fatalf("key %s after the refused rotation: %+v, %v; want it as it was", old.ID, k, err)
	}

	id := granted("acme-admin", KeysRotateRoute)
	_, next, err := a.RotateKey(ctx, old.ID, time.Hour, withApproval(alice, id))
	if err != nil {
		t.Fatalf("rotating with a granted approval: %v", err)
	}
	evs, err := a.ListEvents(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var rotRev, useRev int64
	for _, e := range evs {
		switch {
		case e.Action == ActionKeyRotate && e.Target == old.ID && e.Details["approval"] == id && e.Details["new_key"] == next.ID:
			rotRev = e.Revision
		case e.Action == etcdsync.ActionApprovalUse && e.Target == id && e.Details["route"] == KeysRotateRoute:
			useRev = e.Revision
		}
	}
	if rotRev == 0 || rotRev != useRev {
		t.Errorf("key.rotate naming %s at revision %d, its approval.use at %d; want both, in one transaction", id, rotRev, useRev)
	}

	// The approval was for one key: spent, it admits no second rotation.
	if _, _, err := a.RotateKey(ctx, next.ID, time.Hour, withApproval(alice, id)); !errors.Is(err, ErrNotApproved) {
		t.Errorf("rotating again with the spent approval: %v; want ErrNotApproved", err)
	}
	// A client holding no privileged scope needs none, and one named is
	// refused as unused, as keys create refuses it.
	_, plain, err := a.CreateKey(ctx, "acme-hris", 0, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.RotateKey(ctx, plain.ID, time.Hour, withApproval(alice, granted("acme-admin", KeysRotateRoute))); !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), "would not be used") {
		t.Errorf("rotating acme-hris's key with an approval: %v; want it refused as unused", err)
	}
	if _, _, err := a.RotateKey(ctx, plain.ID, time.Hour, alice); err != nil {
		t.Errorf("rotating acme-hris's key: %v", err)
	}
}
