package evidence

import (
	"fmt"
	"strings"

	"github.com/portcullis/portcullis/collector"
)

// The approval samples count the requests naming each approval id. The id
// is the sender's claim, so the ids that no approval event of the trail
// names (made up) are counted by id up to maxApprovalIDs, and the
// requests naming those past it together (approvalsOver). An id an
// approval event names is counted by id however many made-up ids came
// first: at most as many as approvals were written to etcd, which no
// sender can add to. A sender that filled the bound with made-up ids
// before a real approval's first request took that approval's row
// (TestRealApprovalCountedPastMadeUpIDs).
//
// The pass meets an approval's requests before its events when the
// collector stored the event after them (its etcd watch behind the
// sidecars'): such requests past the bound are counted together at
// first, and recountApprovals moves them to their id after the pass.

// maxApprovalIDs bounds the made-up approval ids a pack counts requests
// for by id; those past it are counted together (approvalsOver).
const maxApprovalIDs = 100000

// approvalDecision is the column a request naming an approval counts in:
// 0 allowed, 1 refused for want of one (approval_required); ok is false
// for any other decision.
func approvalDecision(r *collector.StoredRecord) (k int, ok bool) {
	switch r.Decision {
	case "allowed":
		return 0, true
	case "approval_required":
		return 1, true
	}
	return 0, false
}

// addApproval counts a request that named an approval, allowed or
// refused for want of one.
func (t *tally) addApproval(r *collector.StoredRecord, n int64) {
	k, ok := approvalDecision(r)
	if !ok {
		return
	}
	c := t.approvals[r.ApprovalID]
	if c == nil {
		if !t.knownApprovals[r.ApprovalID] {
			if t.madeUpApprovals >= maxApprovalIDs {
				t.approvalsOver[k] += n
				return
			}
			t.madeUpApprovals++
		}
		c = new([2]int64)
		t.approvals[r.ApprovalID] = c
	}
	c[k] += n
}

// knowApproval notes an approval event of the trail, read at entry at.
// Its id's requests read before it, if any, are in approvalsOver when it
// is not counted by id yet and that holds any: once past the bound, every
// id no event names is counted there.
func (t *tally) knowApproval(ev *collector.Event, at entryPos) {
	if !strings.HasPrefix(ev.Action, "approval.") || t.knownApprovals[ev.Target] {
		return
	}
	t.knownApprovals[ev.Target] = true
	if t.approvals[ev.Target] == nil && t.approvalsOver != [2]int64{} {
		t.lateApprovals[ev.Target] = at
	}
}

// recountApprovals moves the requests of the approvals first named by an
// event after they were counted in approvalsOver to their ids: it reads
// again the segments that hold such requests. Every request of such an
// approval before its first event that the pass counted is among them
// (before the bound was reached, its first request would have given it
// its own row), and the pass counted every one in the period but those of
// the entries it left out.
func (b *builder) recountApprovals() error {
	t := b.tally
	if len(t.lateApprovals) == 0 || len(t.overSegs) == 0 {
		return nil
	}
	p := b.cfg.Period
	_, err := collector.ReadStore(b.cfg.DataDir, collector.Pass{
		Filter:   collector.Filter{From: p.From, To: p.To},
		Segments: func(n uint64) bool { return t.overSegs[n] },
		Records: func(e *collector.Entry, r *collector.StoredRecord) error {
			at := entryPos{e.Segment, e.Index}
			first, late := t.lateApprovals[r.ApprovalID]
			k, ok := approvalDecision(r)
			if !late || !ok || b.leftOutAt[at] || !at.before(first) {
				return nil
			}
			n := requests(r)
			c := t.approvals[r.ApprovalID]
			if c == nil {
				c = new([2]int64)
				t.approvals[r.ApprovalID] = c
			}
			c[k] += n
			t.approvalsOver[k] -= n
			return nil
		},
	})
	if err != nil {
		return fmt.Errorf("cannot read store %q again: %w", b.cfg.DataDir, err)
	}
	return nil
}
