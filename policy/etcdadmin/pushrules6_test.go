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

// TestPushReplacingAnIssuersSignerNeedsApproval: an issuer added for acme
// needs a second person, so one operator keeps demo-idp and replaces its
// jwks with a key of their own. Before, the push went through alone and
// tokens signed offline named any client of acme or globex (attack815).
func TestPushReplacingAnIssuersSignerNeedsApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	base := examplePolicy(t)
	push(t, a, base)
	swapped := edit(t, base, `"x":"lgXeSIRAyXwmOjbRiQGZ7YVoYx8XviIq9Kl4GWEV5x0"`, `"x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"`)
	_, err := a.PushPolicy(ctx, swapped, 0, Meta{Actor: "alice", Reason: "rotate", Ticket: "CHG-815"})
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), `issuer "demo-idp": its signing keys`) {
		t.Fatalf("push replacing demo-idp's jwks without an approval: %v; want ErrNotApproved naming the issuer", err)
	}
}

// TestPushIssuerAcceptingMoreNeedsApproval: one operator adds an audience
// to demo-idp and lengthens its max_lifetime to a day, so tokens minted
// for another service, and a stolen token for 24 hours, pass. Before, the
// push went through alone (left by attack815).
func TestPushIssuerAcceptingMoreNeedsApproval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	base := examplePolicy(t)
	push(t, a, base)
	wider := edit(t, edit(t, base, "audiences: [portcullis-demo]", "audiences: [portcullis-demo, billing]"), "max_lifetime: 1h", "max_lifetime: 24h")
	_, err := a.PushPolicy(ctx, wider, 0, Meta{Actor: "alice", Reason: "wider", Ticket: "CHG-818"})
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), `issuer "demo-idp" accepts more of its tokens: audience "billing" added, max_lifetime 1h -> 24h`) {
		t.Fatalf("push widening demo-idp's audiences and max_lifetime without an approval: %v; want ErrNotApproved naming both", err)
	}
}
