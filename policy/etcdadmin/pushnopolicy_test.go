package etcdadmin

import (
	"context"
	"errors"
	"testing"
)

// A push onto no policy document weakens nothing when there never was
// one. One deleted by hand (`etcdctl del <prefix>/policy`, the operator
// role's, or `del --prefix` meant for the history) leaves the history,
// and the sidecars keep the policy they had: a push then compared with an
// empty document turned privileged_key_approval off, or wrote a
// privileged client's key into the document, on one person's word. The
// newest pushed document of the history that loads stands for it, as it
// does for one that does not load.
func TestPushOverADeletedPolicyIsComparedWithTheHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	strict := strictPolicy(t)
	push(t, a, strict)
	if _, err := a.cli.Delete(ctx, a.k.Policy()); err != nil {
		t.Fatal(err)
	}
	weak := edit(t, strict, "privileged_key_approval: true", "privileged_key_approval: false")
	if _, err := a.PushPolicy(ctx, weak, 0, meta); !errors.Is(err, ErrNotApproved) {
		t.Fatalf("push turning privileged_key_approval off over a policy deleted by hand: %v; want ErrNotApproved", err)
	}
	push(t, a, strict) // the same document again weakens nothing
}
