package etcdadmin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// A rotation of a privileged client's key takes an approval asked for
// "keys rotate", and a creation one asked for "keys create": the
// approver reads which of the two the request is, in approvals show and
// in the approval.request and approval.grant events. Before, keys rotate
// spent a keys create approval, so the approver could not tell a new key
// from a successor; and a create approval (one asked before the rotate
// kind, or for a create) is refused for a rotation, naming what to
// request, and the other way round.
func TestRotationTakesARotateApprovalNotACreateOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRotateRig(t)
	create := r.granted("acme-admin")
	_, _, err := r.a.RotateKey(ctx, r.old, time.Hour, withApproval(r.alice, create))
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), `--route "keys rotate"`) {
		t.Fatalf("rotating with a keys create approval: %v; want ErrNotApproved naming --route \"keys rotate\"", err)
	}
	rotate := r.grantedFor("acme-admin", "keys rotate")
	if ap, err := r.a.ShowApproval(ctx, rotate); err != nil || ap.Route != "keys rotate" {
		t.Fatalf("approvals show of the rotation approval: route %q, %v; want \"keys rotate\"", ap.Route, err)
	}
	if _, _, err := r.a.CreateKey(ctx, "acme-admin", time.Hour, withApproval(r.alice, rotate)); !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), `--route "keys create"`) {
		t.Fatalf("keys create with a keys rotate approval: %v; want ErrNotApproved naming --route \"keys create\"", err)
	}
	if _, _, err := r.a.RotateKey(ctx, r.old, time.Hour, withApproval(r.alice, rotate)); err != nil {
		t.Fatalf("rotating with a keys rotate approval: %v", err)
	}
	// The create approval the rotation refused is still unspent.
	if _, _, err := r.a.CreateKey(ctx, "acme-admin", time.Hour, withApproval(r.alice, create)); err != nil {
		t.Fatalf("keys create with its own approval after the refused rotation: %v", err)
	}
	evs, err := r.a.ListEvents(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for _, e := range evs {
		if e.Target == rotate && strings.HasPrefix(e.Action, "approval.") {
			seen[e.Action] = e.Details["route"]
		}
	}
	for _, action := range []string{etcdsync.ActionApprovalRequest, etcdsync.ActionApprovalGrant, etcdsync.ActionApprovalUse} {
		if seen[action] != "keys rotate" {
			t.Errorf("%s event of the rotation approval names route %q; want \"keys rotate\"", action, seen[action])
		}
	}
}
