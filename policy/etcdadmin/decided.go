package etcdadmin

import (
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// grantedOnly reports whether is, an approval record written under an
// approval.grant, is was, the pending record it replaced, changed only as
// GrantApproval changes it: its state, approver and note, the decision's
// time, expiry (decided plus max_age) and uses lease, and its max_uses
// and max_age lowered to the policy's (policyLimits), never raised, with
// uses stored as max_uses (or left as it was). A grant event in the transaction of a record
// rewritten for another client, route or more uses spoke for it. The
// values are compared here and reach no event.
func grantedOnly(was, is etcdsync.Approval) bool {
	if was.State != etcdsync.ApprovalPending {
		return false
	}
	age, err := time.ParseDuration(is.MaxAge)
	wasAge, werr := time.ParseDuration(was.MaxAge)
	if err != nil || werr != nil || age <= 0 || age > wasAge || is.MaxUses < 1 || is.MaxUses > was.MaxUses {
		return false
	}
	if !is.Expires.Equal(is.Decided.Add(age)) {
		return false
	}
	want := was
	want.State, want.Approver, want.Note, want.Decided, want.Expires = etcdsync.ApprovalGranted, is.Approver, is.Note, is.Decided, is.Expires
	want.MaxUses, want.MaxAge, want.UsesLease = is.MaxUses, is.MaxAge, is.UsesLease
	if is.Uses == is.MaxUses {
		want.Uses = is.Uses // stored as max_uses: used up to binaries before the counter
	}
	return inUTC(want) == inUTC(is)
}

// deniedOnly reports whether is, an approval record written under an
// approval.deny, is was, the pending or granted record it replaced at mod
// revision prevRev, changed only as DenyApproval changes it: its state,
// approver, note and decision time, and, for a grant with a use counter,
// the counter's create revision (the grant's revision, prevRev) recorded
// as uses_rev.
func deniedOnly(was, is etcdsync.Approval, prevRev int64) bool {
	if was.State != etcdsync.ApprovalPending && was.State != etcdsync.ApprovalGranted {
		return false
	}
	want := was
	want.State, want.Approver, want.Note, want.Decided = etcdsync.ApprovalDenied, is.Approver, is.Note, is.Decided
	if was.State == etcdsync.ApprovalGranted && was.UsesCounter && was.UsesRev == 0 {
		want.UsesRev = prevRev
	}
	return inUTC(want) == inUTC(is)
}

// inUTC returns ap with its times in UTC, so that == compares them as
// instants: a time decoded from an offset that is no whole hour (+05:30)
// gets a location of its own at each decode, and the same instant,
// written back unchanged by a decision, compared unequal.
func inUTC(ap etcdsync.Approval) etcdsync.Approval {
	ap.Requested, ap.Decided, ap.Expires, ap.LastUse = ap.Requested.UTC(), ap.Decided.UTC(), ap.Expires.UTC(), ap.LastUse.UTC()
	return ap
}
