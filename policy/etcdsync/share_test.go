package etcdsync_test

import (
	"context"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The shares of the sidecars add up to the whole limit, split by demand
// above a floor; nobody's demand means equal shares.
func TestShare(t *testing.T) {
	t.Parallel()
	demand := []float64{70, 20, 10}
	var sum float64
	for i, d := range demand {
		got := etcdsync.Share(d, 100, 3, 0.2)
		want := 0.2/3 + 0.8*d/100
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("pod %d: share %v, want %v", i, got, want)
		}
		sum += got
	}
	if math.Abs(sum-1) > 1e-12 {
		t.Errorf("shares sum to %v, want 1", sum)
	}
	if got := etcdsync.Share(0, 0, 4, 0.2); got != 0.25 {
		t.Errorf("no demand anywhere: share %v, want 1/4", got)
	}
	if got := etcdsync.Share(0, 50, 4, 0.2); got != 0.05 {
		t.Errorf("idle sidecar: share %v, want the floor 0.2/4", got)
	}
}

// sharePod is one Sharer with a demand counter and the shares it applied.
type sharePod struct {
	sh    *etcdsync.Sharer
	count atomic.Uint64
	mu    sync.Mutex // guards got
	got   etcdsync.Shares
}

func (p *sharePod) shares() etcdsync.Shares {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.got
}

// startSharePod registers pod as a live member (a leased members/<pod>
// record, as a Syncer writes it) and runs its Sharer.
func startSharePod(t *testing.T, cli *clientv3.Client, prefix, pod string) *sharePod {
	t.Helper()
	return startSharePodWith(t, cli, prefix, pod, nil)
}

// startSharePodWith is startSharePod with cfg changed by edit (nil: none)
// before the Sharer is made.
func startSharePodWith(t *testing.T, cli *clientv3.Client, prefix, pod string, edit func(*etcdsync.ShareConfig)) *sharePod {
	t.Helper()
	ctx := context.Background()
	lease, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, etcdsync.NewLayout(prefix).Member(pod), `{"pod":"`+pod+`"}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	p := &sharePod{}
	cfg := etcdsync.ShareConfig{Prefix: prefix, Pod: pod, Interval: 200 * time.Millisecond,
		TTL: time.Second, Stale: 1500 * time.Millisecond, Logger: zerolog.Nop(),
		Demand: func(fn func(bool, string, uint64)) { fn(true, "acme", p.count.Load()) },
		Apply: func(s etcdsync.Shares) {
			p.mu.Lock()
			p.got = s
			p.mu.Unlock()
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	p.sh = etcdsync.NewSharer(cli, cfg)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.sh.Run(rctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return p
}

// send counts rate requests per second on each pod until ctx ends.
func send(ctx context.Context, rates map[*sharePod]uint64) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			for p, r := range rates {
				p.count.Add(r / 100)
			}
		}
	}
}

// Two sidecars with demand 3:1 and an idle third take shares
// 0.2/3 + 0.8 x 3/4, 0.2/3 + 0.8 x 1/4 and the floor 0.2/3 of acme's
// limit (the idle one can still admit a first burst); when etcd stops
// answering, all fall back to 1/(the last member count) and report it
// (issue 17).
func TestSharerFollowsDemandAndFallsBack(t *testing.T) {
	e := ownEtcd(t)
	cli := dial(t, e)
	prefix := newPrefix(t)
	p1, p2, p3 := startSharePod(t, cli, prefix, "p1"), startSharePod(t, cli, prefix, "p2"), startSharePod(t, cli, prefix, "p3")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go send(ctx, map[*sharePod]uint64{p1: 300, p2: 100})

	near := func(got, want float64) bool { return math.Abs(got-want) < 0.03 }
	floor := 0.2 / 3
	pollDetail(t, "shares by demand above the floor", func() (bool, string) {
		a, b, c := p1.shares().Tenants["acme"], p2.shares().Tenants["acme"], p3.shares().Tenants["acme"]
		return near(a, floor+0.6) && near(b, floor+0.2) && near(c, floor), "p1 " + ftoa(a) + ", p2 " + ftoa(b) + ", p3 " + ftoa(c)
	})
	if p1.sh.Fallback() || p1.sh.Members() != 3 {
		t.Errorf("Fallback %v, Members %d; want false, 3", p1.sh.Fallback(), p1.sh.Members())
	}
	if p1.sh.Writes() == 0 || p3.sh.Writes() != 0 {
		t.Errorf("demand records written: busy p1 %d, idle p3 %d; want some and none", p1.sh.Writes(), p3.sh.Writes())
	}
	e.Close()
	for _, p := range []*sharePod{p1, p2, p3} {
		pollDetail(t, "the fallback to 1/3", func() (bool, string) {
			s := p.shares()
			return p.sh.Fallback() && math.Abs(s.Default-1.0/3) < 1e-9 && len(s.Tenants) == 0, "fallback " + ftoa(b2f(p.sh.Fallback())) + ", default " + ftoa(s.Default)
		})
	}
}

// pollDetail polls cond every 20 ms for up to 30 s.
func pollDetail(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, detail)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// A demand record with a negative rate (written by a compromised sidecar,
// or anyone with write access to the demand records) counts as no demand:
// it must not shrink the deployment's total below a sidecar's own demand,
// which made that sidecar's share above 1 (the whole global limit, every
// sidecar at once) or, with the total below zero, an equal share. Here
// p1 carries all of acme's traffic and a member "evil" publishes -290/s
// for acme: p1's share is floor/2 + 0.8, as if evil had published nothing.
func TestSharerIgnoresNegativeDemand(t *testing.T) {
	e := ownEtcd(t)
	cli := dial(t, e)
	prefix := newPrefix(t)
	k := etcdsync.NewLayout(prefix)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, k.Member("evil"), `{"pod":"evil"}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, k.DemandDir()+"evil", `{"t":{"acme":-290,"other":-1e308},"c":{"x":-5}}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	p1 := startSharePod(t, cli, prefix, "p1")
	go send(ctx, map[*sharePod]uint64{p1: 300})
	want := 0.2/2 + 0.8
	pollDetail(t, "p1's share of acme as if evil had no demand", func() (bool, string) {
		s := p1.shares()
		got := s.Tenants["acme"]
		return math.Abs(got-want) < 0.01 && p1.sh.Members() == 2, "share " + ftoa(got) + ", members " + strconv.FormatInt(p1.sh.Members(), 10)
	})
	for i := 0; i < 10; i++ { // and it stays there, interval after interval
		if got := p1.shares().Tenants["acme"]; got > 1 || math.Abs(got-want) > 0.01 {
			t.Fatalf("p1's share of acme %v, want %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
