package etcdadmin

import (
	"context"
	"errors"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// A name spelt with the same letters in another Unicode form is the same
// person: "José" requested in NFD (e and a combining acute) and granted
// as "José" in NFC, a fullwidth "ａｌｉｃｅ", a ligature, or "аlice" with
// a Cyrillic а all show as the requester's name, in a terminal and in the
// evidence pack. Before, SamePerson folded case and dropped spaces and
// format characters only, so each of these granted its requester's own
// request.
func TestGrantByRequesterInAnotherSpelling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, examplePolicy(t))
	for _, tc := range []struct{ requester, approver, actor string }{
		{"jose\u0301", "jos\u00e9", "carol"},                 // NFD requested, NFC grants
		{"jos\u00e9", "carol", "JOSE\u0301"},                 // NFC requested, NFD runs the grant
		{"alice", "\uff41\uff4c\uff49\uff43\uff45", "carol"}, // fullwidth
		{"alice", "\u0430lice", "carol"},                     // Cyrillic а
		{"ALICE", "carol", "\u0391LICE"},                     // Greek Alpha
		{"alice", "al\u0456ce", "carol"},                     // Cyrillic і
		{"fiona", "\ufb01ona", "carol"},                      // ﬁ ligature
	} {
		ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute},
			Meta{Actor: tc.requester, Reason: "export", Ticket: "CHG-1"})
		if err != nil {
			t.Fatalf("RequestApproval by %q: %v", tc.requester, err)
		}
		if _, err := a.GrantApproval(ctx, ap.ID, tc.approver, "ok", Meta{Actor: tc.actor}); !errors.Is(err, ErrSelfApproval) {
			t.Errorf("request by %q, grant as approver %q by actor %q = %v, want ErrSelfApproval", tc.requester, tc.approver, tc.actor, err)
		}
		if got, err := a.ShowApproval(ctx, ap.ID); err != nil || got.State != etcdsync.ApprovalPending {
			t.Errorf("request by %q after the refused grant: state %q, %v; want pending", tc.requester, got.State, err)
		}
	}
	if SamePerson("alice", "bob") || SamePerson("jose", "josh") || SamePerson("ana", "anna") {
		t.Error("SamePerson holds two different names the same")
	}
}
