package etcdadmin

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestPushMovingARouteToALooserClassNeedsApproval: one operator adds a
// class without a limit and with a 1 GiB body cap and moves POST
// /v1/records to it, in one push. Raising class standard's own limit or
// max_body needs a second person; before, this push went through on one
// operator's word (attack815).
func TestPushMovingARouteToALooserClassNeedsApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	base := examplePolicy(t)
	push(t, a, base)
	open := edit(t, base, "\nroutes:\n", "  - {name: open, kind: standard, max_body: 1GiB}\n\nroutes:\n")
	moved := edit(t, open, "path: /v1/records, class: standard", "path: /v1/records, class: open")
	alice := Meta{Actor: "alice", Reason: "records unbounded", Ticket: "CHG-815"}

	_, err := a.PushPolicy(ctx, moved, 0, alice)
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), `route "POST /v1/records" of class "standard" served by route "POST /v1/records" of class "open"`) {
		t.Fatalf("push moving a route to an unlimited class without an approval: %v; want ErrNotApproved naming the route", err)
	}
	// The class alone, no route in it, weakens nothing.
	if _, err := a.PushPolicy(ctx, open, 0, alice); err != nil {
		t.Fatalf("push adding an unused class: %v", err)
	}
}
