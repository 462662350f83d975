// Verify's checks of retention entries: signed by the store's key, not dated in the future, and not
// premature by the store's own clock.

package collector

import (
	"time"
)

// checkRetention accepts a retention entry only when it is signed by the
// collector's key and the segment it expires had closed, by its signed
// digest, longer ago than the retention period in force (issue 21, item 2).
func (v *verifier) checkRetention(n uint64, i int, b *verifyBody) {
	d, ok := v.digests[b.Segment]
	switch {
	case !b.retentionFields.verify(v.keys.at(n), b.Segment, b.LastHash, b.Time):
		v.problem(n, i, b.Seq, ProblemBadRetention, "retention entry for segment %d is not signed by the collector's key", b.Segment)
	case !ok:
		v.problem(n, i, b.Seq, ProblemBadRetention, "retention entry for segment %d, which has no valid signed digest", b.Segment)
	case v.sigs[b.Segment] != b.DigestSignature || d.LastHash != b.LastHash:
		v.problem(n, i, b.Seq, ProblemBadRetention, "retention entry for segment %d does not name its signed digest", b.Segment)
	case b.Time.Sub(d.End) < time.Duration(b.RetentionSeconds)*time.Second || b.RetentionSeconds <= 0:
		v.problem(n, i, b.Seq, ProblemBadRetention, "segment %d closed at %s, less than the retention of %ds before its deletion at %s",
			b.Segment, d.End.Format(time.RFC3339), b.RetentionSeconds, b.Time.Format(time.RFC3339))
	case !v.dueByOwnClock(n, i, b, d): // reported there
	default:
		v.expired[b.Segment] = true
		if bound := d.End.Add(time.Duration(b.RetentionSeconds) * time.Second); bound.After(v.due.bound) {
			v.due.segment, v.due.seq, v.due.at, v.due.bound = b.Segment, b.Seq, b.Time, bound
		}
		if b.Segment >= v.newest.segment {
			v.newest.segment, v.newest.at, v.newest.retention = b.Segment, b.Time, time.Duration(b.RetentionSeconds)*time.Second
		}
	}
}

// RetentionFutureSkew is how far a retention entry may be dated after
// verify's own clock (VerifyOptions.Now): two hosts' clocks kept by NTP
// differ by far less.
const RetentionFutureSkew = 5 * time.Minute

// dueByOwnClock reports whether retention entry b, for the segment of
// digest d, is due by verify's own clock, and reports it bad when not: a
// collector whose clock stays ahead deleted segments early under entries
// that, dated by that clock, looked due, with no entry after them dated
// before (checkRetentionClock finds a clock put right). The segment's
// records must be older than the retention by verify's clock, and the
// entry no more than RetentionFutureSkew in its future
// (TestRetentionByClockStillAheadFound).
func (v *verifier) dueByOwnClock(n uint64, i int, b *verifyBody, d *segmentDigest) bool {
	now, latest := v.opts.Now.UTC(), v.opts.Now.Add(RetentionFutureSkew)
	due := d.End.Add(time.Duration(b.RetentionSeconds) * time.Second)
	switch {
	case due.After(latest):
		v.problem(n, i, b.Seq, ProblemBadRetention, "segment %d closed at %s and came due under the retention of %ds at %s, after verify's clock (%s): deleted early by a collector clock ahead (or verify's own clock is behind)",
			b.Segment, d.End.UTC().Format(time.RFC3339), b.RetentionSeconds, due.UTC().Format(time.RFC3339), now.Format(time.RFC3339))
	case b.Time.After(latest):
		v.problem(n, i, b.Seq, ProblemBadRetention, "retention entry for segment %d is dated %s, more than %s after verify's clock (%s): the collector's clock is ahead (or verify's own clock is behind)",
			b.Segment, b.Time.UTC().Format(time.RFC3339), RetentionFutureSkew, now.Format(time.RFC3339))
	default:
		return true
	}
	return false
}

// RetentionClockSkew is how far an entry after a retention entry may be
// dated before the deleted segment came due (a clock stepped back a
// little after a pass that found a segment just due).
const RetentionClockSkew = time.Minute

// checkRetentionClock reports the retention entry of v.due as premature
// when b, an entry after it in the chain, is dated before its segment
// came due: the collector's clock was ahead when it deleted the segment
// (set ahead, then put right), and the retention entry, dated by that
// clock, only looked due. Each retention entry is reported once.
func (v *verifier) checkRetentionClock(n uint64, i int, b *verifyBody) {
	if v.due.bound.IsZero() || !b.Time.Before(v.due.bound.Add(-RetentionClockSkew)) {
		return
	}
	v.problem(n, i, v.due.seq, ProblemBadRetention, "segment %d was deleted by a retention entry dated %s, but entry seq %d after it is dated %s, before the segment came due at %s: the collector's clock was ahead when it deleted the segment",
		v.due.segment, v.due.at.UTC().Format(time.RFC3339), b.Seq, b.Time.UTC().Format(time.RFC3339), v.due.bound.UTC().Format(time.RFC3339))
	v.due.bound = time.Time{}
}
