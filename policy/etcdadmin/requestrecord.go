package etcdadmin

import (
	"context"
	"fmt"
	"strconv"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// requestRecordProblem says why the approval record that ev, an
// approval.request read at its own revision, speaks for is not the
// request ev describes, or "". approvals request creates the record
// pending, with the client, route, requester, limits and weakening list
// its event names, and the etcd user it was written as, which the
// event's key binds (bindEvent runs first). A record written by hand
// beside a request event could be created granted, for another client,
// or naming another person's etcd user as its requester's; the follower
// checked only that it was put in the event's transaction
// (TestFollowFlagsARequestRecordItsEventDoesNotDescribe).
func (a *Admin) requestRecordProblem(ctx context.Context, ev *Event) string {
	resp, err := a.cli.Get(ctx, a.k.Approval(ev.Target), clientv3.WithRev(ev.Revision))
	if err != nil || len(resp.Kvs) != 1 {
		return fmt.Sprintf("cannot read approval %q at revision %d: %v", ev.Target, ev.Revision, err)
	}
	kv := resp.Kvs[0]
	if kv.CreateRevision != kv.ModRevision {
		return fmt.Sprintf("approval record %q rewritten at revision %d under an approval.request event (created at %d): a request creates its record", ev.Target, kv.ModRevision, kv.CreateRevision)
	}
	ap, err := etcdsync.DecodeApproval(kv.Value)
	if err != nil {
		return fmt.Sprintf("approval %q at revision %d: %v", ev.Target, ev.Revision, err)
	}
	return requestMismatch(ap, ev)
}

// requestMismatch names the first field of ap, a record created with the
// approval.request ev, that is not what ev says of it, or "".
func requestMismatch(ap etcdsync.Approval, ev *Event) string {
	d := ev.Details
	base := d["policy_revision"]
	if base == "" && ap.PolicyRevision == 0 {
		base = "0"
	}
	fields := [...][3]string{
		{"id", ap.ID, ev.Target},
		{"state", ap.State, etcdsync.ApprovalPending},
		{"client", ap.Client, d["client"]},
		{"route", ap.Route, d["route"]},
		{"requester", ap.Requester, d["requester"]},
		{"requester_etcd_user", ap.RequesterEtcdUser, d[DetailEtcdUser]},
		{"max_uses", strconv.Itoa(ap.MaxUses), d["max_uses"]},
		{"max_age", ap.MaxAge, d["max_age"]},
		{"weakenings_sha256", ap.WeakeningsDigest, d["weakens_sha256"]},
		{"policy_revision", strconv.FormatInt(ap.PolicyRevision, 10), base},
		{"approver", ap.Approver, ""},
	}
	for _, f := range fields {
		if f[1] != f[2] {
			return fmt.Sprintf("approval record %q created at revision %d holds %s %q, where its approval.request event says %q (the etcd user: the one its key binds): not the request approvals request writes (written by hand)",
				ap.ID, ev.Revision, f[0], f[1], f[2])
		}
	}
	if !ap.Decided.IsZero() || !ap.Expires.IsZero() || ap.UsesLease != 0 {
		return fmt.Sprintf("approval record %q created at revision %d decided (decided %s, expires %s, uses lease %d) under its approval.request event: a request is created pending (written by hand)",
			ap.ID, ev.Revision, ap.Decided, ap.Expires, ap.UsesLease)
	}
	return ""
}
