package etcdadmin

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// A grant's check (its approval.grant and approval.request events) and
// ListEvents over the last hour read the whole of events-by/: every
// event ever written there, by every person, for each lookup. They now
// read each user's directory within the change's time (the grant's
// check) or the period's bounds (ListEvents), and one key per directory
// to find the next: 200 old events in a third person's directory are
// not read. The keys of that directory each Range request covers
// (bounded by its limit) are counted from the requests themselves,
// against the real etcd; no timing.
func TestEventsByLookupsReadTheirOwnRanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	route, _ := twoUseGrant(t, ctx, a) // as no etcd user: under events/
	const old = 200
	carol := a.k.EventsBy("ops-carol")
	for i := range old {
		at := time.Date(2020, 1, 1, 0, 0, i, 0, time.UTC)
		v, err := json.Marshal(Event{Time: at, Actor: "carol", Action: ActionClientResume, Target: "acme-admin", Details: map[string]string{DetailEtcdUser: "ops-carol"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Put(ctx, carol+fmt.Sprintf("%020d-%08x", at.UnixNano(), i), string(v)); err != nil {
			t.Fatal(err)
		}
	}
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: route}, Meta{Actor: "alice", Reason: "export", Ticket: "CHG-9", EtcdUser: "ops-alice"})
	if err != nil {
		t.Fatal(err)
	}
	if ap, err = a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob", EtcdUser: "ops-bob"}); err != nil {
		t.Fatal(err)
	}
	rec, err := cli.Get(ctx, a.k.Approval(ap.ID))
	if err != nil || len(rec.Kvs) != 1 {
		t.Fatalf("reading approval %s: %v", ap.ID, err)
	}
	var mu sync.Mutex
	var ranges []*etcdserverpb.RangeRequest
	watch := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if r, ok := req.(*etcdserverpb.RangeRequest); ok {
			mu.Lock()
			ranges = append(ranges, r)
			mu.Unlock()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	b := New(dialIntercepted(t, watch), prefix)
	if why := b.grantEventProblem(ctx, ap, rec.Kvs[0].ModRevision); why != "" {
		t.Errorf("grantEventProblem = %q, want the grant's and the request's events found", why)
	}
	evs, err := b.ListEvents(ctx, time.Now().Add(-time.Hour), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, e := range evs {
		found[e.Action] = eventUser(&e) // claimed: no etcd authentication here
	}
	if found[etcdsync.ActionApprovalRequest] != "ops-alice" || found[etcdsync.ActionApprovalGrant] != "ops-bob" {
		t.Errorf("ListEvents of the last hour: %v, want the request by ops-alice and the grant by ops-bob", found)
	}
	covered := int64(0)
	end := clientv3.GetPrefixRangeEnd(carol)
	for _, r := range ranges {
		lo, hi := max(string(r.Key), carol), string(r.RangeEnd)
		switch {
		case hi == "":
			hi = string(r.Key) + "\x00" // one key
		case hi == "\x00" || hi > end:
			hi = end
		}
		if lo >= hi {
			continue
		}
		n, err := cli.Get(ctx, lo, clientv3.WithRange(hi), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		c := n.Count
		if r.Limit > 0 {
			c = min(c, r.Limit)
		}
		covered += c
	}
	if covered > 10 {
		t.Errorf("a grant's check and ListEvents of the last hour read %d keys, in all, of another person's directory of %d old events (in %d Range requests); want at most one a lookup", covered, old, len(ranges))
	}
}
