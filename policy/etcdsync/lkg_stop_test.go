package etcdsync_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// A sidecar stopped (SIGTERM, a rolling update) just as a revocation
// arrives applies it, and must save it to the last-known-good file: a
// restart while etcd is unreachable serves that file. The final save ran
// on the cancelled context, racing the apply that offered the state: when
// the save loop saw the cancel first it returned, and the revocation
// arrived after it, unsaved. The file kept the key valid. Here the stop
// comes while the revocation's snapshot is being swapped in (a preparer
// cancels Run and gives the save loop time to see it).
func TestStopDuringApplySavesIt(t *testing.T) {
	t.Parallel()
	cli, k, a := examplePushed(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := &policy.Store{}
	var once sync.Once
	store.AddPreparer(func(s *policy.Snapshot) {
		if k := s.Key([]byte("acmehris1")); k != nil && k.Revoked {
			once.Do(func() {
				cancel()
				time.Sleep(200 * time.Millisecond) // not an assertion: lets the save loop see the cancel first
			})
		}
	})
	s := etcdsync.NewSyncer(cli, store, etcdsync.SyncConfig{Prefix: string(k), StateDir: dir, Logger: zerolog.Nop()})
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	etcdtest.AtRevision(t, store, 1)
	if _, err := a.RevokeKey(context.Background(), "acmehris1", etcdadmin.Meta{Actor: "t", Reason: "leaked"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	if k := store.Load().Key([]byte("acmehris1")); !k.Revoked {
		t.Fatal("the revocation was not applied before the stop")
	}
	saved, err := etcdsync.ReadLKGState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := saved.Revocations["acmehris1"]; !ok {
		t.Error("the revocation applied as the Syncer stopped is not in the last-known-good file: a restart while etcd is unreachable accepts the key")
	}
}
