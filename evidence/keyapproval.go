package evidence

import (
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// A key creation's ticket names a change record; it is no second
// person's approval: the operator who made the key wrote it, and the
// pack cannot show anyone approved the change it names. The approval a
// key creation shows is the one `keys create --approval` spent in the
// transaction that wrote the key (lifecycle.privileged_key_approval): a
// key.create event naming it and an approval.use of it for `keys create`
// at the same etcd revision, granted by someone other than its requester.

// keyCreateApproval returns, for the key.create event ev, the approval it
// names and what the trail shows of it: ok when a second person's
// approval was spent on it, else why not.
func (b *builder) keyCreateApproval(ev *collector.Event, samples map[string]*approvalSample) (id, text string, ok bool) {
	d := eventDetails(ev.Details)
	id = d["approval"]
	if id == "" {
		return "", "none (no approval spent; a ticket is no second person's approval)", false
	}
	spent := false
	for k := range b.events {
		u := &b.events[k]
		if u.Revision == ev.Revision && u.Unverified == "" && u.Action == etcdsync.ActionApprovalUse && u.Target == id &&
			eventDetails(u.Details)["route"] == etcdadmin.KeysCreateRoute && eventDetails(u.Details)["client"] == d["client"] {
			spent = true
		}
	}
	s := samples[id]
	switch {
	case ev.Unverified != "":
		return id, "approval " + id + " named by an unverified event", false
	case s != nil && s.state == etcdsync.ApprovalGranted && s.selfApproved():
		// Judged before its use: the follower stores the use of a
		// self-granted approval unverified (etcdadmin.selfGrantProblem),
		// and "no approval.use of it" hid why, as weakening.go says.
		return id, "approval " + id + " named, but granted by its requester (no second person; see the approval samples)", false
	case !spent:
		return id, "approval " + id + " named, but no approval.use of it for keys create of this client in the same etcd transaction", false
	case s == nil || s.state != etcdsync.ApprovalGranted:
		return id, "approval " + id + " spent, but no grant of it in the trail", false
	}
	return id, "approval " + id + " spent, granted by " + s.approver, true
}
