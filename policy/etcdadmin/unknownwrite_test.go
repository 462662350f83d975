package etcdadmin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestWriteWithoutAnswerSaysItMayHaveApplied: a write whose answer is
// lost (a proxy on loopback forwards the request to a real etcd and drops
// the answer) was reported as "context deadline exceeded" alone, and the
// operator ran it again though it had been applied. The error now matches
// ErrWriteUnknown and says the write may or may not have been applied;
// here it was.
func TestWriteWithoutAnswerSaysItMayHaveApplied(t *testing.T) {
	t.Parallel()
	prefix := newPrefix(t)
	addr := etcdtest.LostAnswerProxy(t, strings.TrimPrefix(shared.Endpoints()[0], "http://"))
	lossy, err := etcdsync.Dial(etcdsync.Config{Endpoints: []string{addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer lossy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = New(lossy, prefix).RecordEvidenceEvent(ctx, ActionEvidenceApprove, "f.csv", meta, map[string]string{"status": "Approved"})
	if !errors.Is(err, ErrWriteUnknown) || !strings.Contains(err.Error(), "may or may not have been applied") {
		t.Fatalf("a write whose answer was lost = %v; want an error saying it may or may not have been applied", err)
	}
	evs, err := New(dial(t, shared), prefix).ListEvents(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Target != "f.csv" {
		t.Errorf("events after the write whose answer was lost: %+v; want the one it applied", evs)
	}
}

// TestWriteEtcdRefusedIsNotUnknown: an error etcd answered (a request too
// large) says nothing was written, never that the write may have been.
func TestWriteEtcdRefusedIsNotUnknown(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := a.RecordEvidenceEvent(ctx, ActionEvidenceApprove, "f.csv", meta, map[string]string{"note": strings.Repeat("x", 1700<<10)})
	if err == nil || errors.Is(err, ErrWriteUnknown) || strings.Contains(err.Error(), "may or may not") {
		t.Errorf("a write etcd refused = %v; want its error, not one saying it may have been applied", err)
	}
}

// lossyAdmin is an Admin under prefix whose etcd connection goes through
// a LostAnswerProxyAfter(n): the answers to its first n requests come,
// the rest are lost.
func lossyAdmin(t *testing.T, prefix string, n int) *Admin {
	t.Helper()
	addr := etcdtest.LostAnswerProxyAfter(t, strings.TrimPrefix(shared.Endpoints()[0], "http://"), n)
	lossy, err := etcdsync.Dial(etcdsync.Config{Endpoints: []string{addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lossy.Close() })
	return New(lossy, prefix)
}

// signedHead is a head document as PublishHead reads it, naming seq.
func signedHead(seq int, hash string) []byte {
	return fmt.Appendf(nil, `{"payload":{"seq":%d,"hash":%q}}`, seq, hash)
}

// TestHeadWriteWithoutAnswerSaysItMayHaveApplied: PublishHead and
// ReplaceHead write the audit head outside commit; a lost answer said
// "cannot write ...: context deadline exceeded" alone. It now matches
// ErrWriteUnknown, keeps its own prefix and says what the collector does
// next. Here the writes were applied.
func TestHeadWriteWithoutAnswerSaysItMayHaveApplied(t *testing.T) {
	t.Parallel()
	prefix := newPrefix(t)
	key := etcdsync.NewLayout(prefix).AuditHead()
	direct := New(dial(t, shared), prefix)
	check := func(what string, err error, next string, want []byte) {
		t.Helper()
		if !errors.Is(err, ErrWriteUnknown) || !strings.Contains(err.Error(), "cannot write \""+key+"\"") ||
			!strings.Contains(err.Error(), "may or may not have been applied") || !strings.Contains(err.Error(), next) {
			t.Errorf("%s whose answer was lost = %v; want it to name %q, say it may or may not have been applied and %q", what, err, key, next)
		}
		if got, err := direct.ReadHead(context.Background()); err != nil || string(got) != string(want) {
			t.Errorf("head after %s whose answer was lost = %s, %v; want the one it applied", what, got, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	first := signedHead(1, "aa")
	// PublishHead reads the key (its answer comes), then writes.
	check("PublishHead", lossyAdmin(t, prefix, 1).PublishHead(ctx, first), "next --sign-every tick", first)

	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	replaced := signedHead(1, "bb")
	check("ReplaceHead", lossyAdmin(t, prefix, 0).ReplaceHead(ctx, first, replaced), "knows it as its own", replaced)
}

// TestGrantCounterClearWithoutAnswerSaysItMayHaveApplied: the grant's
// clearing of a use counter left from before is written outside commit; a
// lost answer said "cannot clear the use counter ...: context deadline
// exceeded" alone. It now matches ErrWriteUnknown and says the grant was
// not written.
func TestGrantCounterClearWithoutAnswerSaysItMayHaveApplied(t *testing.T) {
	t.Parallel()
	prefix := newPrefix(t)
	a := New(dial(t, shared), prefix)
	push(t, a, examplePolicy(t))
	ap, err := a.RequestApproval(context.Background(), ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}, Meta{Actor: "alice", Reason: "new key"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// The grant reads the policy and the record and creates two leases
	// (their answers come), then clears the counter.
	_, err = lossyAdmin(t, prefix, 4).GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob"})
	if !errors.Is(err, ErrWriteUnknown) || !strings.Contains(err.Error(), "cannot clear the use counter of approval") ||
		!strings.Contains(err.Error(), "may or may not have been applied") || !strings.Contains(err.Error(), "the grant itself was not written") {
		t.Fatalf("a grant whose counter clearing lost its answer = %v; want an error naming it, saying it may or may not have been applied and that the grant was not written", err)
	}
	if got, err := a.ShowApproval(context.Background(), ap.ID); err != nil || got.State != etcdsync.ApprovalPending {
		t.Errorf("approval after the lost clearing: %s, %v; want still pending", got.State, err)
	}
	if _, err := a.GrantApproval(context.Background(), ap.ID, "bob", "ok", Meta{Actor: "bob"}); err != nil {
		t.Errorf("running the grant again: %v", err)
	}
}
