package etcdadmin

import (
	"context"
	"errors"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// A request and its grant written as two etcd users, one of them the
// operators' shared certificate (portcullis-operator) or another identity
// naming no person (root, a portcullis- program user), are no two
// people: alice requests with the shared certificate and grants with her
// own, claiming bob's name, or the other way round. Before, the two
// etcd users differed and the grant passed as a second person's; the
// follower's check of a grant written by hand passed it too.
func TestSharedEtcdUserIsNoSecondPerson(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, examplePolicy(t))
	for _, c := range []struct{ request, grant string }{
		{"portcullis-operator", "ops-alice"},
		{"ops-alice", "portcullis-operator"},
		{"root", "ops-bob"},
		{"ops-alice", "portcullis-collector"},
	} {
		ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}, Meta{Actor: "alice", Reason: "new key", Ticket: "CHG-22", EtcdUser: c.request})
		if SharedEtcdUser(c.request) {
			// Refused at once: stored, it would wait for a grant that
			// cannot come. One written by hand (or by a binary from
			// before) is refused at its grant.
			if !errors.Is(err, ErrSelfApproval) {
				t.Errorf("RequestApproval as etcd user %s: %v, want ErrSelfApproval", c.request, err)
			}
			ap = etcdsync.Approval{ID: "apr_shared", State: etcdsync.ApprovalPending, Requester: "alice", RequesterEtcdUser: c.request}
			if err := grantable(ap, "bob", Meta{Actor: "bob", EtcdUser: c.grant}); !errors.Is(err, ErrSelfApproval) {
				t.Errorf("grant as %s of a request written as etcd user %s: %v, want ErrSelfApproval", c.grant, c.request, err)
			}
		} else {
			if err != nil {
				t.Fatalf("RequestApproval as %s: %v", c.request, err)
			}
			if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob", EtcdUser: c.grant}); !errors.Is(err, ErrSelfApproval) {
				t.Errorf("request as etcd user %s, grant as %s: %v, want ErrSelfApproval", c.request, c.grant, err)
			}
		}
		granted := ap
		granted.State, granted.Approver = etcdsync.ApprovalGranted, "bob"
		ev := Event{Actor: "bob", Details: map[string]string{DetailEtcdUser: c.grant}}
		if why := selfGrantProblem(granted, ap, &ev); why == "" {
			t.Errorf("follower's check of a grant as %s of a request as %s: no problem, want one", c.grant, c.request)
		}
	}
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}, Meta{Actor: "alice", Reason: "new key", Ticket: "CHG-23", EtcdUser: "ops-alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob", EtcdUser: "ops-bob"}); err != nil {
		t.Errorf("grant by bob as his own etcd user of alice's request as hers: %v", err)
	}
}
