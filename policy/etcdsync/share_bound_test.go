package etcdsync_test

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Finding (outsider, members185): nothing bounded how many members share
// a global limit. With a stolen sidecar certificate (the sidecars' etcd
// role may write members/ and demand/), 99 leased member records each
// claiming acme's ceiling held the one real sidecar carrying all of
// acme's traffic to 0.2/100 + 0.8 x 1/100 = 1% of acme's limit: every
// tenant with a global limit could be starved across the deployment.
// Now members count up to ShareConfig.MaxMembers (10 here): p1 keeps at
// least 1/10, as among ten sidecars all at the ceiling, and says so
// (OverBound, one warn line) until the fakes are gone.
func TestSharerBoundsFakeMembers(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Revoke(context.Background(), lease.ID) })
	for i := range 99 {
		pod := "fake-" + strconv.Itoa(i)
		if _, err := cli.Put(ctx, k.Member(pod), `{"pod":"`+pod+`"}`, clientv3.WithLease(lease.ID)); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Put(ctx, k.DemandDir()+pod, `{"t":{"acme":1e9}}`, clientv3.WithLease(lease.ID)); err != nil {
			t.Fatal(err)
		}
	}
	logs := &logBuffer{}
	p1 := startSharePodWith(t, cli, prefix, "p1", func(c *etcdsync.ShareConfig) {
		c.Logger = zerolog.New(logs)
		c.Ceiling = func(tenant bool, id string) float64 {
			if tenant && id == "acme" {
				return 100
			}
			return 0
		}
		c.MaxMembers = func() int { return 10 }
	})
	// 300/s against a ceiling of 100: p1's demand counts as the ceiling,
	// as each fake's does.
	go send(ctx, map[*sharePod]uint64{p1: 300})
	pollDetail(t, "p1's share of acme beside 99 fake members at the ceiling", func() (bool, string) {
		s := p1.shares()
		got := s.Tenants["acme"]
		return p1.sh.Members() == 100 && math.Abs(got-0.1) < 1e-9 && math.Abs(s.Default-0.1) < 1e-9,
			"share " + ftoa(got) + ", want 0.100; equal share " + ftoa(s.Default) + "; members " + strconv.FormatInt(p1.sh.Members(), 10)
	})
	if !p1.sh.OverBound() || p1.sh.MaxMembers() != 10 {
		t.Errorf("OverBound %v, MaxMembers %d; want true, 10", p1.sh.OverBound(), p1.sh.MaxMembers())
	}
	if n := strings.Count(logs.String(), "more live members than global_limits.max_sidecars"); n != 1 {
		t.Errorf("%d warn lines for the members above the bound, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), `"max_sidecars":10`) {
		t.Errorf("the warn line does not name the bound:\n%s", logs)
	}

	// The fakes gone: p1 alone, within the bound again, and says so.
	if _, err := cli.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	pollDetail(t, "p1 alone after the fakes' lease is revoked", func() (bool, string) {
		got := p1.shares().Tenants["acme"]
		return p1.sh.Members() == 1 && !p1.sh.OverBound() && got == 1, "share " + ftoa(got) + ", members " + strconv.FormatInt(p1.sh.Members(), 10)
	})
	if !strings.Contains(logs.String(), "live members within global_limits.max_sidecars again") {
		t.Errorf("no line for the members back within the bound:\n%s", logs)
	}
}

// With no more members than MaxMembers the shares are as before the
// bound: three sidecars with demand 3:1:0 and a bound of exactly 3 take
// 0.2/3 + 0.8 x 3/4, 0.2/3 + 0.8 x 1/4 and 0.2/3, summing to 1, and none
// reports members above the bound.
func TestSharerBoundKeepsNormalSharing(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	bounded := func(c *etcdsync.ShareConfig) {
		c.Ceiling = func(tenant bool, id string) float64 { return 1000 }
		c.MaxMembers = func() int { return 3 }
	}
	p1, p2, p3 := startSharePodWith(t, cli, prefix, "p1", bounded), startSharePodWith(t, cli, prefix, "p2", bounded), startSharePodWith(t, cli, prefix, "p3", bounded)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go send(ctx, map[*sharePod]uint64{p1: 300, p2: 100})
	near := func(got, want float64) bool { return math.Abs(got-want) < 0.03 }
	floor := 0.2 / 3
	pollDetail(t, "shares by demand above the floor", func() (bool, string) {
		a, b, c := p1.shares().Tenants["acme"], p2.shares().Tenants["acme"], p3.shares().Tenants["acme"]
		return near(a, floor+0.6) && near(b, floor+0.2) && near(c, floor) && math.Abs(a+b+c-1) < 0.03,
			"p1 " + ftoa(a) + ", p2 " + ftoa(b) + ", p3 " + ftoa(c)
	})
	for _, p := range []*sharePod{p1, p2, p3} {
		if p.sh.OverBound() || p.sh.Members() != 3 || p.shares().Default != 1.0/3 {
			t.Errorf("OverBound %v, Members %d, equal share %v; want false, 3, 1/3", p.sh.OverBound(), p.sh.Members(), p.shares().Default)
		}
	}
}
