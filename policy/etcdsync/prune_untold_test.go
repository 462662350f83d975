package etcdsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestPrunedEarlyAfterUntoldKeepsRevocation: a token's revocation without
// an expiry is deleted by hand while the watch is away, and the read whole
// that lacks it is installed while etcd does not answer whether its
// history shows it deleted (untold: kept in force, asked about again).
// The token is then revoked again, with its exp, which the watch applies
// (the revocation is in etcd again), and that revocation is pruned on a
// clock fast by more than the grace, before it lapsed on the sidecar's
// clock, which the watch sees: the sidecar holds it until it lapses. The
// next read whole asked etcd about the untold revocation of that id,
// found the first one deleted by hand, and let go of the held one with
// it: the revoked token got in. A revocation in etcd again is no longer
// untold.
func TestPrunedEarlyAfterUntoldKeepsRevocation(t *testing.T) {
	t.Parallel()
	c, a := newPushedCluster(t)
	ctx := context.Background()
	if _, err := a.RevokeToken(ctx, "tok-1", time.Time{}, meta); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	store := &policy.Store{}
	s := etcdsync.NewSyncer(c.cli, store, etcdsync.SyncConfig{Logger: zerolog.New(logs)})
	k := etcdsync.Layout(etcdsync.DefaultPrefix)
	st := deletedUntold(t, c, s, "jti:tok-1", logs)

	// The watch from the revision applied sees the token revoked again,
	// with its exp, and that revocation pruned early.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := c.cli.Watch(wctx, string(k)+"/", clientv3.WithPrefix(), clientv3.WithRev(st.Revision+1))
	if _, err := a.RevokeToken(ctx, "tok-1", time.Now().Add(time.Minute), meta); err != nil {
		t.Fatal(err)
	}
	pruner := a.WithClock(func() time.Time { return time.Now().Add(10*time.Minute + etcdadmin.PruneGrace) })
	pruned, err := pruner.PruneRevocations(ctx, meta)
	if err != nil || len(pruned) != 1 || pruned[0] != "jti:tok-1" {
		t.Fatalf("prune on a fast clock = %v, %v; want jti:tok-1 pruned", pruned, err)
	}
	deleted := false
	timeout := time.After(20 * time.Second)
	for !deleted {
		select {
		case resp := <-wch:
			if err := s.Handle(resp, nil); err != nil {
				t.Fatal(err)
			}
			for _, ev := range resp.Events {
				deleted = deleted || (ev.Type == mvccpb.DELETE && string(ev.Kv.Key) == k.Revocation("jti:tok-1"))
			}
		case <-timeout:
			t.Fatal("the watch never saw the prune")
		}
	}
	if !store.Load().JTIRevoked("tok-1") {
		t.Fatalf("the revocation pruned before it lapsed on the sidecar's clock was lifted by the watch\n%s", logs)
	}

	s.Install(readWhole(t, c.cli, k))
	if !store.Load().JTIRevoked("tok-1") {
		t.Fatalf("a read whole asked etcd about the untold revocation deleted by hand and let go of the one revoked again and pruned early: the revoked token gets in\n%s", logs)
	}
	if h := s.LKGHealth().Held; h != 1 {
		t.Errorf("held %d, want the revocation pruned early held", h)
	}
}
