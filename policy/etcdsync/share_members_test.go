package etcdsync_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Finding (outside review of the limits): a key under members/ counted as
// a live sidecar whether or not it was leased, though the README counts
// "those with a leased members/<pod> record". A record put by hand, left
// by a script or by anything that may write members/ (the sidecars' etcd
// role may), never lapses: it took a share of every global limit for ever,
// so the deployment admitted less than the policy's limits, and a few
// hundred of them cut a tenant's first burst and its share while idle to
// a thousandth. Only leased records count now; a lease-less put over a
// member's record ends its membership.
func TestSharerCountsOnlyLeasedMembers(t *testing.T) {
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	ctx := context.Background()
	for i := range 3 {
		if _, err := cli.Put(ctx, k.Member("ghost-"+strconv.Itoa(i)), `{"pod":"ghost"}`); err != nil {
			t.Fatal(err)
		}
	}
	p1, p2 := startSharePod(t, cli, prefix, "p1"), startSharePod(t, cli, prefix, "p2")
	for _, p := range []*sharePod{p1, p2} {
		pollDetail(t, "two members", func() (bool, string) {
			n, d := p.sh.Members(), p.shares().Default
			return n == 2 && d == 0.5, "members " + strconv.FormatInt(n, 10) + ", equal share " + ftoa(d)
		})
	}
	// Put without a lease over p2's own record: p2 is no live member any
	// more (its record would never lapse).
	if _, err := cli.Put(ctx, k.Member("p2"), `{"pod":"p2"}`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p1.sh.Members() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("p1 counts %d members after p2's record lost its lease, want 1", p1.sh.Members())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A members/<pod> record on a lease of a huge TTL lapses no sooner than
// one without a lease: the sidecars' etcd role may grant any lease (etcd
// allows 9,000,000,000 s), so a stolen sidecar certificate left records
// that took a share of every global limit for centuries after the
// certificate was revoked. A member counts only while its lease's TTL is
// at most etcdsync.MaxMemberTTL, whether the record was there at the
// start (the list) or arrives later (the watch).
func TestSharerIgnoresMembersOnHugeLeases(t *testing.T) {
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	ctx := context.Background()
	huge, err := cli.Grant(ctx, 100_000_000)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Revoke(context.Background(), huge.ID) })
	ghost := func(name string) {
		t.Helper()
		if _, err := cli.Put(ctx, k.Member(name), `{"pod":"`+name+`"}`, clientv3.WithLease(huge.ID)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		ghost("ghost-" + strconv.Itoa(i))
	}
	p1, p2 := startSharePod(t, cli, prefix, "p1"), startSharePod(t, cli, prefix, "p2")
	for _, p := range []*sharePod{p1, p2} {
		pollDetail(t, "two members", func() (bool, string) {
			n, d := p.sh.Members(), p.shares().Default
			return n == 2 && d == 0.5, "members " + strconv.FormatInt(n, 10) + ", equal share " + ftoa(d)
		})
	}
	// Written while the Sharers watch, then a put any member would see.
	ghost("ghost-late")
	if _, err := cli.Put(ctx, k.Member("p2"), `{"pod":"p2"}`, clientv3.WithLease(huge.ID)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p1.sh.Members() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("p1 counts %d members after a ghost and p2's record on a lease of 100,000,000 s, want 1", p1.sh.Members())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A demand record counts only on a lease as short as a member's: the
// sidecars' etcd role may put one without a lease, or on a lease of a
// huge TTL, under the name of a live sidecar that is idle (and so writes
// none of its own over it), and every sidecar took that demand as the
// idle one's: a tenant's busy sidecars fell to the floor of its limits
// for as long as the record stayed, for ever without a lease.
func TestSharerIgnoresDemandOffShortLeases(t *testing.T) {
	cli := dial(t, shared)
	ctx := context.Background()
	huge, err := cli.Grant(ctx, 100_000_000)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Revoke(context.Background(), huge.ID) })
	for _, tc := range []struct {
		name string
		opts []clientv3.OpOption
	}{{"no lease", nil}, {"huge lease", []clientv3.OpOption{clientv3.WithLease(huge.ID)}}} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := newPrefix(t)
			k := etcdsync.NewLayout(prefix)
			busy := startSharePod(t, cli, prefix, "busy")
			startSharePod(t, cli, prefix, "idle") // a live member with no traffic: it writes no demand record
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go send(sctx, map[*sharePod]uint64{busy: 100})
			high := func() (bool, string) {
				f := busy.shares().Tenants["acme"]
				return busy.sh.Members() == 2 && f > 0.8, "members " + strconv.FormatInt(busy.sh.Members(), 10) + ", share " + ftoa(f)
			}
			pollDetail(t, "the busy sidecar with most of acme's limit", high)
			if _, err := cli.Put(ctx, k.Demand("idle"), `{"t":{"acme":1000000}}`, tc.opts...); err != nil {
				t.Fatal(err)
			}
			// Each tick (200 ms) and each record applies the shares again:
			// 2 s is ten of them. The record counted would hold the busy
			// sidecar to about 0.1 (0.2/2 + 0.8 x 100/(100+1e6)); on a
			// loaded machine its own demand record may go stale for a
			// tick, which splits acme equally (0.5) and is not the fault
			// looked for: above 0.4 is "not taken".
			notTaken := func() (bool, string) {
				f := busy.shares().Tenants["acme"]
				return busy.sh.Members() == 2 && f > 0.4, "members " + strconv.FormatInt(busy.sh.Members(), 10) + ", share " + ftoa(f)
			}
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				if ok, detail := notTaken(); !ok {
					t.Fatalf("a demand record off a short lease under the idle sidecar's name took acme's limit: %s", detail)
				}
			}
		})
	}
}
