package etcdadmin

import (
	"context"
	"errors"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestEtcdUsersOfOnePersonAreNoSecondPerson: a person with two personal
// certificates (a second device) has two etcd users. Before, alice
// requested as ops-alice and granted with her laptop's certificate,
// claiming bob's name: two etcd users, and the grant passed as a second
// person's. By the roles Job's naming rule a person's further etcd users
// are named person+device (EtcdPerson), and the checks compare persons.
func TestEtcdUsersOfOnePersonAreNoSecondPerson(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, examplePolicy(t))
	for _, c := range []struct {
		request, grant string
		same           bool
	}{
		{"ops-alice", "ops-alice+laptop", true},
		{"ops-alice+laptop", "ops-alice", true},
		{"ops-alice+desk", "ops-alice+laptop", true},
		{"ops-alice", "OPS-Alice+laptop", true},
		{"ops-alice", "ops-bob+laptop", false},
	} {
		ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}, Meta{Actor: "alice", Reason: "new key", Ticket: "CHG-24", EtcdUser: c.request})
		if err != nil {
			t.Fatalf("RequestApproval as %s: %v", c.request, err)
		}
		_, err = a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob", EtcdUser: c.grant})
		if got := errors.Is(err, ErrSelfApproval); got != c.same {
			t.Errorf("request as etcd user %s, grant as %s: %v; want ErrSelfApproval: %t", c.request, c.grant, err, c.same)
		}
		granted := ap
		granted.State, granted.Approver = etcdsync.ApprovalGranted, "bob"
		ev := Event{Actor: "bob", Details: map[string]string{DetailEtcdUser: c.grant}}
		if why := selfGrantProblem(granted, ap, &ev); (why != "") != c.same {
			t.Errorf("follower's check of a grant as %s of a request as %s: %q; want a problem: %t", c.grant, c.request, why, c.same)
		}
	}
	for user, want := range map[string]string{"ops-alice": "ops-alice", "ops-alice+laptop": "ops-alice", "a+b+c": "a", "root+laptop": "root"} {
		if got := EtcdPerson(user); got != want {
			t.Errorf("EtcdPerson(%q) = %q, want %q", user, got, want)
		}
	}
	if !SharedEtcdUser("root+laptop") || !SharedEtcdUser("portcullis-operator+x") || SharedEtcdUser("ops-alice+laptop") {
		t.Error("SharedEtcdUser: want the shared person's device users shared, a person's not")
	}
}
