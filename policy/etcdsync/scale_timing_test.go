package etcdsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/dataplane"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/portcullis/portcullis/policy/policytest"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.yaml.in/yaml/v3"
)

// scaleKeys is the number of key records of BenchmarkSnapshotApply.
const scaleKeys = 100_000

// BenchmarkSnapshotApply is the policy state of a deployment of 100,000
// key records (1,000 clients, 100 tenants, 1,000 routes) in the real
// etcd server of the tests (issue 18: compile and swap of 100,000 keys
// under 1 s):
//
//   - list: ReadState, the one transaction that reads the state;
//   - apply: a new Syncer installs the listed state, as at start: decode
//     every key record, compile, and swap into a Store whose preparer is a
//     data plane Server (its tables and key front are built in the swap);
//   - revoke: a Syncer that applied the state applies one revocation more,
//     as the watch does: what each revocation costs at this size (an
//     amendment of the snapshot in force, not a compile);
//   - suspend: the same for a suspension of a client (100 keys each);
//   - key-record: the same for a new key record (amended in too);
//   - reread: a Syncer that applied the state installs it read whole
//     again with one key record more or less, as after a lost watch:
//     the comparison of every record and an amendment.
func BenchmarkSnapshotApply(b *testing.B) {
	cli, k := scaleDeployment(b)
	listed, err := etcdsync.ReadState(context.Background(), cli, k)
	if err != nil {
		b.Fatal(err)
	}
	if len(listed.Keys) != scaleKeys {
		b.Fatalf("listed %d key records, want %d", len(listed.Keys), scaleKeys)
	}
	read := func(b *testing.B) *etcdsync.State {
		st, err := etcdsync.ReadState(context.Background(), cli, k)
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	b.Run(fmt.Sprintf("keys=%d/list", scaleKeys), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := etcdsync.ReadState(context.Background(), cli, k); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("keys=%d/apply", scaleKeys), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, store := scaleSyncer(b, cli, k)
			s.Install(listed)
			if snap := store.Load(); snap == nil || snap.KeyCount() != scaleKeys {
				b.Fatalf("installed %v", snap)
			}
		}
	})
	b.Run(fmt.Sprintf("keys=%d/revoke", scaleKeys), func(b *testing.B) {
		s, store := scaleSyncer(b, cli, k)
		s.Install(read(b)) // its own: the changes below are applied to it
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s.Put(k.Revocation(policytest.KeyID(i)), `{"id":"`+policytest.KeyID(i)+`","actor":"bench","reason":"benchmark"}`)
			if !store.Load().Key([]byte(policytest.KeyID(i))).Revoked {
				b.Fatalf("key %d not revoked", i)
			}
		}
	})
	b.Run(fmt.Sprintf("keys=%d/key-record", scaleKeys), func(b *testing.B) {
		s, store := scaleSyncer(b, cli, k)
		s.Install(read(b)) // its own: the changes below are applied to it
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_, ks := policytest.Key(scaleKeys+i, policytest.ClientID(i%1000))
			v, err := json.Marshal(ks)
			if err != nil {
				b.Fatal(err)
			}
			s.Put(k.Key(ks.ID), string(v))
			if store.Load().Key([]byte(ks.ID)) == nil {
				b.Fatalf("key %s not in force", ks.ID)
			}
			if n := s.Compiles(); n != 1 {
				b.Fatalf("%d compiles: the key record was compiled in, not amended", n)
			}
		}
	})
	b.Run(fmt.Sprintf("keys=%d/suspend", scaleKeys), func(b *testing.B) {
		s, store := scaleSyncer(b, cli, k)
		s.Install(read(b)) // its own: the changes below are applied to it
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			id := policytest.ClientID(i % 1000)
			s.Put(k.Suspension(id), `{"client":"`+id+`","actor":"bench","reason":"benchmark"}`)
			if !store.Load().Client(id).Suspended {
				b.Fatalf("client %s not suspended", id)
			}
		}
	})
	b.Run(fmt.Sprintf("keys=%d/reread", scaleKeys), func(b *testing.B) {
		without := read(b)
		_, ks := policytest.Key(2*scaleKeys, policytest.ClientID(0))
		v, err := json.Marshal(ks)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cli.Put(context.Background(), k.Key(ks.ID), string(v)); err != nil {
			b.Fatal(err)
		}
		with := read(b)
		if _, err := cli.Delete(context.Background(), k.Key(ks.ID)); err != nil {
			b.Fatal(err)
		}
		s, store := scaleSyncer(b, cli, k)
		s.Install(without)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			st, want := with, true
			if i%2 == 1 {
				st, want = without, false
			}
			s.Install(st)
			if got := store.Load().Key([]byte(ks.ID)) != nil; got != want {
				b.Fatalf("key %s in force: %v, want %v", ks.ID, got, want)
			}
		}
		if n := s.Compiles(); n != 1 {
			b.Fatalf("%d compiles: a re-read was compiled, not amended", n)
		}
	})
}

// scaleSyncer returns a Syncer (not running) feeding a new Store, with a
// data plane Server preparing each snapshot.
func scaleSyncer(b *testing.B, cli *clientv3.Client, k etcdsync.Layout) (*etcdsync.Syncer, *policy.Store) {
	store := &policy.Store{}
	srv, err := dataplane.New(dataplane.Config{Store: store, Upstream: "127.0.0.1:1", Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	return etcdsync.NewSyncer(cli, store, etcdsync.SyncConfig{Prefix: string(k), Logger: zerolog.Nop()}), store
}

// scaleDeployment writes the generated policy (without its keys) and its
// key records, as `portcullis keys create` stores them, under a new
// prefix of the shared etcd, and deletes them at the end.
func scaleDeployment(b *testing.B) (*clientv3.Client, etcdsync.Layout) {
	cli := dial(b, shared)
	prefix := newPrefix(b)
	k := etcdsync.NewLayout(prefix)
	b.Cleanup(func() { cli.Delete(context.Background(), prefix+"/", clientv3.WithPrefix()) })
	doc, _ := policytest.Document(policytest.Size{Tenants: 100, Clients: 1000, Keys: scaleKeys, Routes: 1000})
	records := doc.Keys
	doc.Keys = nil
	text, err := yaml.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	// The document goes alone: etcd refuses a request over 1.5 MiB
	// (--max-request-bytes), and with 10,000 clients it is about that.
	if _, err := cli.Put(context.Background(), k.Policy(), string(text)); err != nil {
		b.Fatalf("cannot put a policy of %d bytes: %v", len(text), err)
	}
	var ops []clientv3.Op
	for _, ks := range records {
		v, err := json.Marshal(ks)
		if err != nil {
			b.Fatal(err)
		}
		ops = append(ops, clientv3.OpPut(k.Key(ks.ID), string(v)))
	}
	for len(ops) > 0 {
		n := min(len(ops), 128) // etcd's default --max-txn-ops
		if _, err := cli.Txn(context.Background()).Then(ops[:n]...).Commit(); err != nil {
			b.Fatal(err)
		}
		ops = ops[n:]
	}
	return cli, k
}

// BenchmarkRevocationBurst writes bursts of 100 revocations, one
// transaction each and as fast as one client can, to the deployment of
// BenchmarkSnapshotApply (100,000 key records) while a Syncer runs with a
// data plane preparing each snapshot: catch-up-ms is how long after the
// burst's last revocation was written it was in force, swaps/burst how
// many snapshots the burst made.
func BenchmarkRevocationBurst(b *testing.B) {
	const burst = 100
	cli, k := scaleDeployment(b)
	s, store := scaleSyncer(b, cli, k)
	stop := startRun(b, s)
	defer stop()
	waitFor(b, 2*time.Minute, "the state", func() bool { snap := store.Load(); return snap != nil && snap.KeyCount() == scaleKeys })
	var swaps atomic.Int64
	store.AddPreparer(func(*policy.Snapshot) { swaps.Add(1) })
	ctx := context.Background()
	var catchUp time.Duration
	var made int64
	for i := 0; b.Loop(); i++ {
		swaps.Store(0)
		var last []byte
		for j := range burst {
			id := policytest.KeyID((i*burst + j) % scaleKeys)
			if _, err := cli.Put(ctx, k.Revocation(id), `{"id":"`+id+`","actor":"bench","reason":"benchmark"}`); err != nil {
				b.Fatal(err)
			}
			last = []byte(id)
		}
		written := time.Now()
		waitFor(b, time.Minute, "the burst's last revocation", func() bool { return store.Load().Key(last).Revoked })
		catchUp += time.Since(written)
		made += swaps.Load()
	}
	b.ReportMetric(float64(catchUp.Microseconds())/1e3/float64(b.N), "catch-up-ms")
	b.ReportMetric(float64(made)/float64(b.N), "swaps/burst")
}
