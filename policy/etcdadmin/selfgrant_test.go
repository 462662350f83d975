package etcdadmin

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// An operator writing etcd by hand grants her own request, record and
// approval.grant event in one transaction as approvals grant writes them,
// naming herself (in another case) the approver, running the grant
// herself in bob's name, or naming carol the requester in the granted
// record. approvals grant refuses both, and the evidence
// pack flagged them, but the collector's follower stored the grant and
// every use of it verified, as a second person's: the trail's own events
// said nothing. The grant event and its uses are flagged now, as a use
// naming another client or route than its grant's is.
func TestSelfGrantWrittenByHandIsFlagged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	route, real := twoUseGrant(t, ctx, a) // alice asks, bob grants through the CLI
	alice := Meta{Actor: "alice", Reason: "export", Ticket: "CHG-9"}
	forge := func(approver string, by Meta, requester string) string {
		t.Helper()
		ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: route}, alice)
		if err != nil {
			t.Fatal(err)
		}
		ap, rev, err := a.approval(ctx, ap.ID)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		ap.State, ap.Approver, ap.Note, ap.Decided, ap.Expires = etcdsync.ApprovalGranted, approver, "ok", now, now.Add(time.Hour)
		ap.Requester = requester
		counter, err := putJSON(a.k.ApprovalCounter(ap.ID), etcdsync.ApprovalUse{})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := a.decide(ctx, ap, rev, etcdsync.ActionApprovalGrant, by, nil, []clientv3.Op{counter}); !ok || err != nil {
			t.Fatalf("hand-written grant: %v %v", ok, err)
		}
		return ap.ID
	}
	named := forge("Alice", alice, "alice")                        // alice names herself the approver
	inBobsName := forge("bob", alice, "alice")                     // alice runs the grant in bob's name
	otherRequester := forge("alice", Meta{Actor: "dave"}, "carol") // the granted record names carol the requester
	l := etcdsync.NewLedger(cli, etcdsync.LedgerConfig{Prefix: prefix, Pod: "pod-a"})
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go l.Run(lctx)
	waitFor(t, 20*time.Second, "the ledger", l.Ready)
	for _, id := range []string{real.ID, named, inBobsName, otherRequester} {
		if !l.Consume([]byte(id), "acme-admin", route, []byte("req-"+id), time.Now()) {
			t.Fatalf("use of %s refused", id)
		}
	}

	// As the collector reads them: the follower checks each event.
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	flagged := map[string]string{}
	go a.FollowEvents(fctx, 0, func(evs []Event) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range evs {
			if e.Action == etcdsync.ActionApprovalGrant || e.Action == etcdsync.ActionApprovalUse {
				flagged[e.Action+" "+e.Target] = e.Unverified
			}
		}
		return nil
	})
	waitFor(t, 20*time.Second, "the grants and uses", func() bool { mu.Lock(); defer mu.Unlock(); return len(flagged) == 8 })
	mu.Lock()
	defer mu.Unlock()
	for _, id := range []string{named, inBobsName, otherRequester} {
		for _, action := range []string{etcdsync.ActionApprovalGrant, etcdsync.ActionApprovalUse} {
			if got, ok := flagged[action+" "+id]; !ok || !strings.Contains(got, "granted by its requester") {
				t.Errorf("%s of the self-granted %s: flagged %q (listed %v); want granted by its requester", action, id, got, ok)
			}
		}
	}
	for _, action := range []string{etcdsync.ActionApprovalGrant, etcdsync.ActionApprovalUse} {
		if got := flagged[action+" "+real.ID]; got != "" {
			t.Errorf("%s of bob's grant is flagged %q; want it verified", action, got)
		}
	}
}
