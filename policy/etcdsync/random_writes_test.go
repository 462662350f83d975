package etcdsync_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/portcullis/portcullis/policy/policytest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestRandomWritesMatchCompile writes random bursts of key records,
// revocations, suspensions and documents (single puts, several ops in
// one txn, rapid sequences the watch delivers together, refused
// documents), with re-reads every 70 ms, and after each burst compares
// the Store with a compile of the state in etcd. PORTCULLIS_SYNC_SEED
// replays a seed the log names; PORTCULLIS_SYNC_RECONCILE sets the
// re-read interval.
func TestRandomWritesMatchCompile(t *testing.T) {
	t.Parallel()
	seed := time.Now().UnixNano()
	if s := os.Getenv("PORTCULLIS_SYNC_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	cli, k, a := examplePushed(t)
	now := time.Now()
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: string(k), Reconcile: reconcileEvery(), Now: func() time.Time { return now }})
	ctx := context.Background()
	base := examplePolicy(t)
	docs := [][]byte{
		base,
		append(bytes.Clone(base), "\n# variant\n"...),
		bytes.Replace(base, []byte("max_key_age: 87600h"), []byte("max_key_age: 8760h"), 1),
		bytes.ReplaceAll(base, []byte("globex-bi"), []byte("globex-bx")),
	}
	bad := []byte("version: 1\ntenants: [{id: acme, nope: 1}]\n")
	goodText := string(base)
	for _, d := range docs[1:] {
		if _, err := policy.Load("x", d); err != nil {
			t.Fatalf("variant does not load: %v", err)
		}
	}
	ids := []string{"acmehris1", "globexbi1", "revoked1", "keyaaaa1", "keybbbb2", "keycccc3", "keydddd4", "keyeeee5"}
	clients := []string{"acme-hris", "acme-admin", "globex-bi", "globex-bx", "ghost"}
	sha := func() string { return fmt.Sprintf("%064x", rng.Int63()) }
	keyRec := func(id string) string {
		switch rng.Intn(10) {
		case 0:
			return `{"id":`
		case 1:
			return fmt.Sprintf(`{"id":"other999","client":"acme-hris","sha256":%q}`, sha())
		}
		extra := ""
		if rng.Intn(3) == 0 {
			extra += `,"revoked":true`
		}
		switch rng.Intn(4) {
		case 0:
			extra += fmt.Sprintf(`,"not_after":%q`, now.Add(-time.Hour).UTC().Format(time.RFC3339))
		case 1:
			extra += fmt.Sprintf(`,"created_at":%q`, now.Add(-24*400*time.Hour).UTC().Format(time.RFC3339))
		case 2:
			extra += fmt.Sprintf(`,"created_at":%q`, now.Add(-time.Hour).UTC().Format(time.RFC3339))
		}
		return fmt.Sprintf(`{"id":%q,"client":%q,"sha256":%q%s}`, id, clients[rng.Intn(len(clients))], sha(), extra)
	}
	op := func() clientv3.Op {
		id := ids[rng.Intn(len(ids))]
		switch rng.Intn(12) {
		case 10:
			if rng.Intn(5) != 0 {
				return clientv3.OpPut(k.Revocation(id), `{}`)
			}
			return clientv3.OpPut(k.Policy(), string(docs[rng.Intn(len(docs))]))
		case 0, 1, 2:
			return clientv3.OpPut(k.Key(id), keyRec(id))
		case 3:
			return clientv3.OpDelete(k.Key(id))
		case 4:
			if rng.Intn(4) == 0 {
				return clientv3.OpPut(k.Revocation(id), `nope`)
			}
			return clientv3.OpPut(k.Revocation(id), `{}`)
		case 5:
			return clientv3.OpDelete(k.Revocation(id))
		case 6:
			c := clients[rng.Intn(len(clients))]
			switch rng.Intn(4) {
			case 0:
				return clientv3.OpPut(k.Suspension(c), `broken`)
			case 1:
				return clientv3.OpPut(k.Suspension(c), fmt.Sprintf(`{"until":%q}`, now.Add(-time.Minute).UTC().Format(time.RFC3339Nano)))
			}
			return clientv3.OpPut(k.Suspension(c), `{}`)
		case 7:
			return clientv3.OpDelete(k.Suspension(clients[rng.Intn(len(clients))]))
		case 8:
			return clientv3.OpPut(k.Revocation(etcdsync.JTIPrefix+"t"+fmt.Sprint(rng.Intn(3))), `{}`)
		case 9:
			return clientv3.OpDelete(k.Revocation(etcdsync.JTIPrefix + "t" + fmt.Sprint(rng.Intn(3))))
		default: // same bytes again
			gr, err := cli.Get(ctx, k.Key(id))
			if err == nil && len(gr.Kvs) == 1 {
				return clientv3.OpPut(k.Key(id), string(gr.Kvs[0].Value))
			}
			return clientv3.OpPut(k.Key(id), keyRec(id))
		}
	}
	_ = a
	var last int64
	for round := range 400 {
		n := 1 + rng.Intn(8)
		if goodText != "" && rng.Intn(2) == 0 {
			if gr, err := cli.Get(ctx, k.Policy()); err == nil && string(gr.Kvs[0].Value) == string(bad) {
				resp, err := cli.Put(ctx, k.Policy(), goodText)
				if err != nil {
					t.Fatal(err)
				}
				last = resp.Header.Revision
			}
		}
		if rng.Intn(25) == 0 {
			resp, err := cli.Put(ctx, k.Policy(), string(bad))
			if err != nil {
				t.Fatal(err)
			}
			last = resp.Header.Revision
		}
		for range n {
			var resp *clientv3.TxnResponse
			var err error
			if rng.Intn(3) == 0 {
				ops := map[string]clientv3.Op{}
				for range 2 + rng.Intn(4) {
					o := op()
					ops[string(o.KeyBytes())] = o
				}
				resp, err = cli.Txn(ctx).Then(slicesOf(ops)...).Commit()
			} else {
				resp, err = cli.Txn(ctx).Then(op()).Commit()
			}
			if err != nil {
				t.Fatal(err)
			}
			last = resp.Header.Revision
		}
		waitFor(t, 10*time.Second, "revision", func() bool { return r.Revision() >= last })
		// What the Syncer should enforce.
		st, err := etcdsync.ReadState(ctx, cli, k)
		if err != nil {
			t.Fatal(err)
		}
		if d, err := policy.Load("etcd", []byte(st.Policy)); err == nil && st.Policy != "" {
			_ = d
			goodText = st.Policy
		}
		doc, err := policy.Load("etcd", []byte(goodText))
		if err != nil {
			t.Fatal(err)
		}
		live, _ := st.Live(now)
		want, err := policy.Compile(doc, live)
		if err != nil {
			t.Fatal(err)
		}
		// allow the apply that follows the revision update to land
		var got *policy.Snapshot
		deadline := time.Now().Add(3 * time.Second)
		for {
			got = r.store.Load()
			if got.Digest == want.Digest || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		n64 := now.UnixNano()
		gv := policytest.View(got, n64, ids, []string{"t0", "t1", "t2"})
		wv := policytest.View(want, n64, ids, []string{"t0", "t1", "t2"})
		if !maps.Equal(gv, wv) {
			for kk := range wv {
				if gv[kk] != wv[kk] {
					t.Errorf("%s:\n store   %s\n compile %s", kk, gv[kk], wv[kk])
				}
			}
			for kk := range gv {
				if _, ok := wv[kk]; !ok {
					t.Errorf("%s: store %s, compile has none", kk, gv[kk])
				}
			}
			t.Fatalf("round %d (seed %d): store differs from a compile of etcd at %d (store rev %d); compiles=%d installs=%d edited=%d", round, seed, st.Revision, got.Revision, r.Compiles(), r.Installs(), r.Edited())
		}
	}
	t.Logf("compiles=%d installs=%d edited=%d", r.Compiles(), r.Installs(), r.Edited())
}

func slicesOf(m map[string]clientv3.Op) []clientv3.Op {
	var out []clientv3.Op
	for _, o := range m {
		out = append(out, o)
	}
	return out
}

func reconcileEvery() time.Duration {
	if s := os.Getenv("PORTCULLIS_SYNC_RECONCILE"); s != "" {
		d, _ := time.ParseDuration(s)
		return d
	}
	return 70 * time.Millisecond
}
