package etcdadmin

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// A push approval binds the document (its SHA-256) and the policy
// revision it was asked against, and now also the SHA-256 of the whole
// weakening list the request computed, which the push computes again.
// The list can change while both hold: the comparison reads the policy
// history for a route of the document that the policy in force lacks
// (policy.FormerRouteWeakenings), and a history entry written into etcd
// by hand (or a CLI of other weakening rules) moves no policy revision.
// Here the approver read one weakening (privileged_key_approval off);
// an entry put since holds GET /v1/reports/{id} with a scope, so the
// document, which puts it back public, weakens it too. Before, the
// push went through on the approval of the one.
func TestPushApprovalBindsItsWeakeningList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	const route = "  - {method: GET, path: \"/v1/reports/{id}\", class: standard, scopes: [read:reports]}\n"
	held := edit(t, strictPolicy(t), route, "")
	push(t, a, held)
	next := edit(t, edit(t, held, "privileged_key_approval: true", "privileged_key_approval: false"),
		"  - {method: POST, path: /v1/integrations,", strings.Replace(route, "scopes: [read:reports]", "public: true", 1)+"  - {method: POST, path: /v1/integrations,")
	alice, bob := Meta{Actor: "alice", Reason: "keys without approval", Ticket: "CHG-204"}, Meta{Actor: "bob", Ticket: "CHG-204"}
	granted := func() string {
		t.Helper()
		ap, err := a.RequestApproval(ctx, ApprovalRequest{Policy: next}, alice)
		if err != nil {
			t.Fatalf("RequestApproval: %v", err)
		}
		if _, err := a.GrantPolicyApproval(ctx, ap.ID, next, "bob", "one weakening read", bob); err != nil {
			t.Fatalf("GrantApproval: %v", err)
		}
		return ap.ID
	}
	id := granted()
	evs, err := a.ListEvents(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Target == id && e.Action == "approval.request" && strings.Contains(e.Details["weakens"], "/v1/reports/{id}") {
			t.Fatalf("the request's event lists %q; want privileged_key_approval alone", e.Details["weakens"])
		}
	}
	if _, err := a.cli.Put(ctx, a.k.History(1), `{"time":"2026-01-01T00:00:00Z","actor":"mallory","digest":"x","document":`+jsonString(strictPolicy(t))+`}`); err != nil {
		t.Fatal(err)
	}
	_, err = a.PushPolicy(ctx, next, 0, withApproval(alice, id))
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), "binds the weakening list") || !strings.Contains(err.Error(), "/v1/reports/{id}") {
		t.Fatalf("push whose weakening list grew since its approval was asked: %v; want ErrNotApproved naming the list it binds and the route's weakening", err)
	}
	// Asked again, the approver reads both, and the push goes through.
	if _, err := a.PushPolicy(ctx, next, 0, withApproval(alice, granted())); err != nil {
		t.Errorf("push with an approval of the list it makes: %v", err)
	}
}

// jsonString is b as a JSON string.
func jsonString(b []byte) string {
	s, _ := json.Marshal(string(b))
	return string(s)
}
