package etcdadmin

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// readUse returns the approval.use event of kv, a use key under
// approval-uses/ (etcdsync.ApprovalUse), in the shape the sidecars wrote
// under events/ before the use keys: actor, the approval's reason and
// ticket, and the details client, route, use ("n/max_uses"), request_id,
// sidecar, requester, approver and max_uses. The approval is read as it
// was at the use's revision, which also checks the use: it must have been
// created then, of a grant for the same client and route, with a use
// number the grant allows. An event that fails is returned with
// Unverified set, never dropped.
func (a *Admin) readUse(ctx context.Context, kv *mvccpb.KeyValue) Event {
	id, n, _ := a.k.ParseApprovalUse(string(kv.Key))
	ev := Event{Action: etcdsync.ActionApprovalUse, Target: id, Revision: kv.ModRevision, Key: string(kv.Key), Observed: a.now().UTC()}
	u, err := etcdsync.DecodeApprovalUse(kv.Value)
	if err != nil || id == "" {
		ev.Unverified = fmt.Sprintf("not an approval use key and record: %v", err)
		return ev
	}
	ev.Time, ev.Actor = u.Time, cmp.Or(u.Actor, u.Client)
	ev.Details = map[string]string{"client": u.Client, "route": u.Route, "request_id": u.RequestID, "sidecar": u.Sidecar, DetailEtcdUser: u.EtcdUser}
	for k, v := range ev.Details {
		if v == "" {
			delete(ev.Details, k)
		}
	}
	ap, why := a.approvalAtRev(ctx, id, kv.ModRevision)
	if why == "" {
		ev.Reason, ev.Ticket = ap.Reason, ap.Ticket
		ev.Details["use"] = strconv.Itoa(n) + "/" + strconv.Itoa(ap.MaxUses)
		ev.Details["max_uses"], ev.Details["requester"], ev.Details["approver"] = strconv.Itoa(ap.MaxUses), ap.Requester, ap.Approver
		why = useProblem(ap, u, n)
	}
	if kv.CreateRevision != kv.ModRevision {
		why = fmt.Sprintf("use key rewritten at revision %d after its creation at %d", kv.ModRevision, kv.CreateRevision)
	}
	ev.Unverified = why
	return ev
}

// approvalAtRev reads the approval id as it was at revision rev, or says
// why it cannot.
func (a *Admin) approvalAtRev(ctx context.Context, id string, rev int64) (etcdsync.Approval, string) {
	resp, err := a.cli.Get(ctx, a.k.Approval(id), clientv3.WithRev(rev))
	if err != nil {
		return etcdsync.Approval{}, fmt.Sprintf("cannot read approval %q at revision %d: %v", id, rev, err)
	}
	if len(resp.Kvs) == 0 {
		return etcdsync.Approval{}, fmt.Sprintf("no approval %q at revision %d", id, rev)
	}
	ap, err := etcdsync.DecodeApproval(resp.Kvs[0].Value)
	if err != nil {
		return ap, fmt.Sprintf("approval %q at revision %d: %v", id, rev, err)
	}
	return ap, ""
}

// useProblem says why use n, u, was not one ap allowed, or "".
func useProblem(ap etcdsync.Approval, u etcdsync.ApprovalUse, n int) string {
	switch {
	case ap.State != etcdsync.ApprovalGranted:
		return fmt.Sprintf("approval %q was %s, not granted, when used", ap.ID, ap.State)
	case u.Client != ap.Client || u.Route != ap.Route:
		return fmt.Sprintf("use by %q on %q of approval %q granted for %q on %q", u.Client, u.Route, ap.ID, ap.Client, ap.Route)
	case n <= ap.Uses || n > ap.MaxUses:
		return fmt.Sprintf("use number %d of approval %q outside %d..%d", n, ap.ID, ap.Uses+1, ap.MaxUses)
	}
	return ""
}

// listUses returns the approval.use events of the use keys in etcd whose
// time is in [from, to) (zero times are open ends).
func (a *Admin) listUses(ctx context.Context, from, to time.Time) ([]Event, error) {
	resp, err := a.cli.Get(ctx, a.k.ApprovalUsesDir(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("cannot read approval uses under %q: %w", a.k.ApprovalUsesDir(), err)
	}
	var out []Event
	for _, kv := range resp.Kvs {
		ev := a.readUse(ctx, kv)
		if (from.IsZero() || !ev.Time.Before(from)) && (to.IsZero() || ev.Time.Before(to)) {
			out = append(out, ev)
		}
	}
	return out, nil
}
