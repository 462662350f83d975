package etcdadmin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// An approval record created by hand beside an approval.request event
// is what the event says, or the event is flagged: approvals request
// creates the record pending, with the client, route, requester and
// limits its event names, as the etcd user its key binds. A record
// created granted (with a forged approver, or for another client) under
// a request event naming a pending request, and one whose
// requester_etcd_user names ops-alice under an event in ops-bob's
// directory, are flagged; approvals request's own is not. Before, the
// follower checked only that the record was put in the event's
// transaction, and stored both forged requests verified.
func TestFollowFlagsARequestRecordItsEventDoesNotDescribe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	push(t, a, approvalPolicy(t))
	alice := Meta{Actor: "alice", Reason: "key", Ticket: "CHG-72"}
	real, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}, alice)
	if err != nil {
		t.Fatal(err)
	}
	forge := func(id string, change func(*etcdsync.Approval), meta Meta) int64 {
		t.Helper()
		now := time.Now().UTC()
		ap := real
		ap.ID, ap.Requested = id, now
		ev, err := a.eventOp(now, etcdsync.ActionApprovalRequest, id, meta, approvalDetails(ap))
		if err != nil {
			t.Fatal(err)
		}
		change(&ap)
		rec, err := json.Marshal(ap)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := cli.Txn(ctx).Then(clientv3.OpPut(k.Approval(id), string(rec)), ev).Commit()
		if err != nil {
			t.Fatal(err)
		}
		return tx.Header.Revision
	}
	granted := forge("apr_forgedgrant0001", func(ap *etcdsync.Approval) {
		ap.State, ap.Approver, ap.Decided, ap.Expires = etcdsync.ApprovalGranted, "bob", time.Now(), time.Now().Add(time.Hour)
		ap.Client = "globex-bi"
	}, alice)
	otherUser := forge("apr_forgeduser00001", func(ap *etcdsync.Approval) { ap.RequesterEtcdUser = "ops-alice" },
		Meta{Actor: "alice", Reason: "key", Ticket: "CHG-72", EtcdUser: "ops-bob"})
	f := follow(t, a, 0)
	f.waitAt(t, otherUser)
	f.stop()
	flagged := map[string]string{}
	for _, e := range f.events() {
		if e.Action == etcdsync.ActionApprovalRequest {
			flagged[e.Target] = e.Unverified
		}
	}
	if why := flagged[real.ID]; why != "" {
		t.Errorf("approvals request's own request flagged %q", why)
	}
	for id, want := range map[string]string{"apr_forgedgrant0001": "state", "apr_forgeduser00001": "requester_etcd_user"} {
		if why, ok := flagged[id]; !ok || !strings.Contains(why, fmt.Sprintf("holds %s", want)) {
			t.Errorf("approval.request of %s (forged record, revisions %d and %d) flagged %q; want it flagged naming the record's %s", id, granted, otherUser, why, want)
		}
	}
}
