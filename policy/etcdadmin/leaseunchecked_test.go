package etcdadmin

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// dialIntercepted returns a client of the shared etcd whose unary calls
// pass through intercept first (a gRPC interceptor on the client side):
// a real etcd cannot be made slow on one call alone, nor asked what its
// ranges read, so the tests that need either watch or hold the calls on
// the client; every call not held reaches etcd.
func dialIntercepted(t *testing.T, intercept grpc.UnaryClientInterceptor) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: shared.Endpoints(), DialTimeout: 2 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(intercept)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// dialLeaseUnanswered returns a client of the shared etcd whose lease
// questions (LeaseTimeToLive) etcd never answers: each waits until its
// context ends, as against an etcd too slow to answer (dialIntercepted).
// asked counts the questions.
func dialLeaseUnanswered(t *testing.T) (cli *clientv3.Client, asked *atomic.Int64) {
	t.Helper()
	asked = new(atomic.Int64)
	hold := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if strings.HasSuffix(method, "/LeaseTimeToLive") {
			asked.Add(1)
			<-ctx.Done()
			return ctx.Err()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	return dialIntercepted(t, hold), asked
}

// An approval record, a suspension and a use counter deleted by hand
// while their leases held, read by the follower past their ends by its
// clock, are told from their leases' ends only by asking etcd whether the
// lease still holds. A question etcd did not answer was taken for the
// lease's end: the three deletes passed unflagged. Each is now stored
// flagged FlagLeaseUnchecked, with the detail lease=unchecked.
func TestFollowFlagsDeletesWhoseLeaseEtcdDoesNotAnswer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	route, ap := twoUseGrant(t, ctx, a)
	if err := a.RequireApproval(ctx, ap.ID, "acme-admin", route, Meta{Actor: "carol"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Suspend(ctx, "acme-admin", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for _, key := range []string{k.ApprovalCounter(ap.ID), k.Approval(ap.ID), k.Suspension("acme-admin")} {
		del, err := cli.Delete(ctx, key)
		if err != nil || del.Deleted != 1 {
			t.Fatalf("deleting %s by hand: %v", key, err)
		}
		want[key] = del.Header.Revision
	}
	slow, asked := dialLeaseUnanswered(t)
	late := New(slow, prefix)
	late.now = func() time.Time { return time.Now().Add(etcdsync.UseRetention + 3*time.Hour) }
	f := follow(t, late, 0)
	f.stopAfterLastKey(t, a, "acme-hris", meta)
	got := map[string]int64{}
	for _, e := range f.events() {
		if strings.HasPrefix(e.Unverified, FlagLeaseUnchecked) {
			if e.Details[DetailLease] != LeaseUnchecked {
				t.Errorf("%s of %s: details %v, want %s=%s", e.Action, e.Key, e.Details, DetailLease, LeaseUnchecked)
			}
			got[e.Key] = e.Revision
		}
	}
	for key, rev := range want {
		if got[key] != rev {
			t.Errorf("delete of %s at revision %d, its lease question unanswered: flagged %s at %d, want at %d", key, rev, FlagLeaseUnchecked, got[key], rev)
		}
	}
	if asked.Load() == 0 {
		t.Error("no lease question was asked: the test proves nothing")
	}
}
