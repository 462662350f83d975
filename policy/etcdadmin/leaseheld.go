package etcdadmin

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// FlagLeaseUnchecked starts the Unverified of a delete the follower took
// to etcd to tell from its lease's end (an approval record's, a
// suspension's or a use counter's, read after its expiry by the
// follower's clock), when etcd did not answer whether the lease still
// held: the lease's end, or a delete by hand, it could not tell which.
// The event also carries the detail DetailLease, LeaseUnchecked.
const FlagLeaseUnchecked = "lease.unchecked"

// DetailLease is the event detail of a delete judged by its lease
// (leaseAsk): LeaseUnchecked when etcd did not answer.
const DetailLease = "lease"

// LeaseUnchecked is DetailLease's value when etcd did not answer.
const LeaseUnchecked = "unchecked"

// leaseAnswer is what etcd answered of a lease.
type leaseAnswer int

const (
	leaseGone    leaseAnswer = iota // etcd holds it no more (TTL -1)
	leaseHeld                       // etcd holds it (TTL 0 or more)
	leaseUnknown                    // etcd did not answer in time
)

// leaseTry bounds one lease question, and leaseBudget the questions of
// one watch response together: each is a linearizable round trip of
// etcd's (a healthy etcd answers in milliseconds), asked inside the
// follower, so before a slow etcd held the follower 5 s per delete. An
// answer not had within them is leaseUnknown, never leaseGone.
const (
	leaseTry    = time.Second
	leaseBudget = 3 * time.Second
)

// leaseAsk asks etcd whether the leases of the deletes of one watch
// response still hold, within leaseBudget, asking each lease once. The
// zero leaseAsk is not usable; newLeaseAsk makes one.
type leaseAsk struct {
	a        *Admin
	ctx      context.Context
	deadline time.Time
	answers  map[int64]leaseAnswer
}

// newLeaseAsk returns the leaseAsk of one watch response. Its budget
// starts with its first question (the wall clock: a.now is the
// follower's judged clock), not now: the response's other work (each
// event's verification) is not the lease questions', and before, a
// response with many events spent the budget before etcd was asked, so
// every lease's end in it was stored unchecked
// (TestLeaseBudgetStartsWithTheFirstQuestion).
func (a *Admin) newLeaseAsk(ctx context.Context) *leaseAsk {
	return &leaseAsk{a: a, ctx: ctx}
}

// held reports whether etcd still holds lease, that of a record
// deleted: an approval record (leaseEnded), a suspension (suspensionEnd)
// or a use counter (counterDeleted). Its lease's end deletes the record
// with it, so a record deleted while its lease is held was deleted by
// hand, whatever its expiry field and the follower's clock say (the
// collector down until after the expiry, or its clock ahead of the
// writer's). A lease gone proves nothing: ended, or revoked by hand, or
// the record deleted by hand before and the lease ended since; etcd
// keeps no time of a revision, and a lease may end later than its TTL (a
// leader change renews it), so the delete's revision bounds no time.
// etcd gives the time left in whole seconds, rounded down, and -1 for a
// lease gone: 0 is a lease held in its last second
// (TestLeaseHeldInItsLastSecond). A question etcd does not answer, twice
// within leaseTry each and within the budget, is leaseUnknown: before,
// it was taken for the lease's end (TestFollowFlagsDeletesWhoseLeaseEtcdDoesNotAnswer).
func (q *leaseAsk) held(lease int64) leaseAnswer {
	if ans, ok := q.answers[lease]; ok {
		return ans
	}
	if q.deadline.IsZero() {
		q.deadline = time.Now().Add(leaseBudget)
	}
	ans := leaseUnknown
	for try := 0; try < 2 && ans == leaseUnknown && q.ctx.Err() == nil; try++ {
		left := time.Until(q.deadline)
		if left <= 0 {
			break
		}
		ans = q.a.leaseTTL(q.ctx, lease, min(left, leaseTry))
	}
	if q.answers == nil {
		q.answers = map[int64]leaseAnswer{}
	}
	q.answers[lease] = ans
	return ans
}

// leaseTTL asks etcd once, within timeout, whether it holds lease.
func (a *Admin) leaseTTL(ctx context.Context, lease int64, timeout time.Duration) leaseAnswer {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := a.cli.TimeToLive(ctx, clientv3.LeaseID(lease))
	switch {
	case err != nil:
		return leaseUnknown
	case resp.TTL >= 0:
		return leaseHeld
	}
	return leaseGone
}

// uncheckedFlag returns the Unverified of a delete of what (a record's
// description) at revision rev past its end (by the follower's clock)
// whose lease etcd did not answer for, and sets DetailLease in details.
func uncheckedFlag(details map[string]string, what string, rev int64, end time.Time) string {
	details[DetailLease] = LeaseUnchecked
	return fmt.Sprintf("%s: %s deleted at etcd revision %d, past its end %s by the follower's clock; etcd did not answer whether its lease still held, "+
		"so its lease's end cannot be told from a delete by hand (or its lease revoked)", FlagLeaseUnchecked, what, rev, end.Format(time.RFC3339))
}
