package etcdadmin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The approver of a policy push reads what the request's event says the
// document weakens, computed against the policy in etcd at the request.
// A plain push in between (here: a detection rule added) changes what the
// same document weakens (it now removes that rule too), which nobody
// approved. Before, the grant and the push both went through: the
// approval named the document only. Now both refuse an approval asked
// against another policy revision.
func TestPushApprovalBoundToItsPolicyRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	base := examplePolicy(t)
	push(t, a, base)
	const rule = "  - {name: key-rotation-due, kind: key_rotation, severity: medium}\n"
	weak := edit(t, base, "max_key_age: 87600h", "max_key_age: 175200h")
	ruled := edit(t, base, rule, rule+"  - {name: extra-probe, kind: tenant_probe, group_by: source, threshold: 5, window: 10m, severity: high}\n")
	alice, bob := Meta{Actor: "alice", Reason: "longer keys", Ticket: "CHG-41"}, Meta{Actor: "bob", Ticket: "CHG-41"}

	// Granted, then the policy moved on: the push is refused.
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Policy: weak}, alice)
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	if _, err := a.GrantPolicyApproval(ctx, ap.ID, weak, "bob", "diff read", bob); err != nil {
		t.Fatalf("GrantApproval: %v", err)
	}
	push(t, a, ruled)
	_, err = a.PushPolicy(ctx, weak, 0, withApproval(alice, ap.ID))
	if !errors.Is(err, ErrNotApproved) || !strings.Contains(err.Error(), "request it again") {
		t.Errorf("push over a policy pushed since the request: %v; want ErrNotApproved saying to request it again", err)
	}

	// Asked, then the policy moved on: the grant is refused.
	ap, err = a.RequestApproval(ctx, ApprovalRequest{Policy: weak}, alice)
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	push(t, a, edit(t, ruled, rule, rule+"  - {name: extra-probe-2, kind: tenant_probe, group_by: client, threshold: 9, window: 10m, severity: high}\n"))
	if _, err := a.GrantPolicyApproval(ctx, ap.ID, weak, "bob", "diff read", bob); !errors.Is(err, ErrNotApproved) {
		t.Errorf("grant after a push since the request: %v; want ErrNotApproved", err)
	}

	// Asked, granted and used on the same policy: it goes through.
	ap, err = a.RequestApproval(ctx, ApprovalRequest{Policy: weak}, alice)
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	if _, err := a.GrantPolicyApproval(ctx, ap.ID, weak, "bob", "diff read", bob); err != nil {
		t.Fatalf("GrantApproval: %v", err)
	}
	if _, err := a.PushPolicy(ctx, weak, 0, withApproval(alice, ap.ID)); err != nil {
		t.Errorf("push on the policy the approval was asked against: %v", err)
	}
}

// The binding of a push approval to its policy revision was the CLI's
// alone: an operator who writes etcd by hand put the policy, its
// policy.push event and the approval's use (the CLI's own ops, asked
// with the approval's revision) over a policy pushed since the request,
// and the follower stored the use verified. It now compares the
// approval's policy_revision with the revision the push replaced.
func TestHandWrittenPushOverAnotherRevisionIsFlagged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	a := New(cli, newPrefix(t))
	base := examplePolicy(t)
	asked := push(t, a, base)
	weak := edit(t, base, "max_key_age: 87600h", "max_key_age: 175200h")
	alice, bob := Meta{Actor: "alice", Reason: "longer keys", Ticket: "CHG-42"}, Meta{Actor: "bob", Ticket: "CHG-42"}
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Policy: weak}, alice)
	if err != nil {
		t.Fatalf("RequestApproval: %v", err)
	}
	if _, err := a.GrantPolicyApproval(ctx, ap.ID, weak, "bob", "diff read", bob); err != nil {
		t.Fatalf("GrantApproval: %v", err)
	}
	since := push(t, a, append(base, "# pushed since the request\n"...))

	sum := sha256.Sum256(weak)
	digest := hex.EncodeToString(sum[:])
	_, useOps, err := a.approvalUse(ctx, ap.ID, "", PolicyPushRoute(digest), asked, alice)
	if err != nil {
		t.Fatalf("approvalUse: %v", err)
	}
	ev, err := a.eventOp(time.Now(), ActionPolicyPush, a.k.Policy(), alice, map[string]string{"digest": digest, "previous_revision": strconv.FormatInt(since, 10), "approval": ap.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Txn(ctx).Then(append([]clientv3.Op{clientv3.OpPut(a.k.Policy(), string(weak)), ev}, useOps...)...).Commit(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var flagged []string
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go a.FollowEvents(fctx, 0, func(evs []Event) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range evs {
			if e.Action == etcdsync.ActionApprovalUse && e.Target == ap.ID {
				flagged = append(flagged, e.Unverified)
			}
		}
		return nil
	})
	waitFor(t, 20*time.Second, "the use followed", func() bool { mu.Lock(); defer mu.Unlock(); return len(flagged) > 0 })
	mu.Lock()
	defer mu.Unlock()
	want := fmt.Sprintf("approval %q was asked against the policy at revision %d, but the push it was spent on", ap.ID, asked)
	if len(flagged) != 1 || !strings.Contains(flagged[0], want) {
		t.Errorf("the use of approval %s on a push over revision %d: flagged %q; want one naming %q", ap.ID, since, flagged, want)
	}
}
