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
