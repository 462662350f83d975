package evidence

import (
	"fmt"
	"strings"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// handWrites are the records of the period the collector's follower
// flagged as written or deleted by hand, with no event of their etcd
// transaction speaking for them (etcdadmin.HandWritten): with the
// operator's etcd role, a policy put by hand let a privileged client's
// key rotate with no approval and was put back after, and a key record
// put by hand was a credential no key.create named. The pack answered
// Yes over both: it counted the events, and these writes had none.
type handWrites struct {
	keys   []string // key records, for the token creation question
	policy []string // the policy, its history and approval records, for the two-person question
	// revocations are the revocations and suspensions, for the
	// revocation question: one deleted by hand un-revoked its key, and
	// one written by hand was counted nowhere, under an answer of Yes.
	revocations []string
	// unchecked are the deletes of the period the follower could not
	// judge, etcd not answering whether their lease held
	// (etcdadmin.FlagLeaseUnchecked): an approval record's, for the
	// two-person question, a suspension's, for the revocation question.
	// Each is its lease's end or a delete by hand; they are named apart
	// from the hand writes and leave the answer as it is.
	uncheckedPolicy, uncheckedRevocations []string
}

// handWrites collects the period's flagged hand writes, each named with
// its etcd revision, escaped as a table cell.
func (b *builder) handWrites() handWrites {
	var h handWrites
	for i := range b.events {
		ev := &b.events[i]
		switch ev.Action {
		case etcdadmin.ActionKeyWritten, etcdadmin.ActionKeyDeleted:
			h.keys = append(h.keys, handName("key record", ev))
		case etcdadmin.ActionPolicyWritten, etcdadmin.ActionPolicyDeleted:
			h.policy = append(h.policy, handName("the policy", ev))
		case etcdadmin.ActionHistoryWritten, etcdadmin.ActionHistoryDeleted:
			h.policy = append(h.policy, handName("policy history entry", ev))
		case etcdadmin.ActionApprovalWritten, etcdadmin.ActionApprovalDeleted:
			if leaseUnchecked(ev) {
				h.uncheckedPolicy = append(h.uncheckedPolicy, handName("approval record", ev))
				continue
			}
			h.policy = append(h.policy, handName("approval record", ev))
		case etcdadmin.ActionRevocationWritten, etcdadmin.ActionRevocationDeleted:
			h.revocations = append(h.revocations, handName("revocation", ev))
		case etcdadmin.ActionSuspensionWritten, etcdadmin.ActionSuspensionDeleted:
			if leaseUnchecked(ev) {
				h.uncheckedRevocations = append(h.uncheckedRevocations, handName("suspension of client", ev))
				continue
			}
			h.revocations = append(h.revocations, handName("suspension of client", ev))
		}
	}
	return h
}

// handName names the record of ev, a hand write, what it is, whether it
// was written or deleted, and its etcd revision.
func handName(what string, ev *collector.Event) string {
	verb := "written"
	if strings.Contains(ev.Action, ".deleted_") {
		verb = "deleted"
	}
	if what != "the policy" {
		what += " " + mdCell(ev.Target)
	}
	return fmt.Sprintf("%s %s at revision %d", what, verb, ev.Revision)
}

// handFact is the part of an answer's fact naming hand writes, the first
// ten; "" for none.
func handFact(named []string) string {
	if len(named) == 0 {
		return ""
	}
	f := fmt.Sprintf("; %d written by hand, no event (flagged: see the lifecycle log's unverified column): ", len(named))
	if len(named) > 10 {
		return f + strings.Join(named[:10], ", ") + fmt.Sprintf(" and %d more", len(named)-10)
	}
	return f + strings.Join(named, ", ")
}

// leaseUnchecked reports whether ev is a delete the follower could not
// tell from its lease's end, etcd not answering (etcdadmin.FlagLeaseUnchecked).
func leaseUnchecked(ev *collector.Event) bool {
	return strings.HasPrefix(ev.Unverified, etcdadmin.FlagLeaseUnchecked)
}

// uncheckedFact is the part of an answer's fact naming the deletes whose
// lease etcd did not answer for, the first ten; "" for none.
func uncheckedFact(named []string) string {
	if len(named) == 0 {
		return ""
	}
	f := fmt.Sprintf("; %d deleted past their end with their lease unchecked (%s: etcd did not answer whether the lease still held, so each is its lease's end or a delete by hand; see the lifecycle log's unverified column): ",
		len(named), etcdadmin.FlagLeaseUnchecked)
	if len(named) > 10 {
		return f + strings.Join(named[:10], ", ") + fmt.Sprintf(" and %d more", len(named)-10)
	}
	return f + strings.Join(named, ", ")
}
