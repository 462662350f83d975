package collector

import (
	"bytes"
	"time"
)

// A sender's second sums (ceiling.go) live in memory, and a restart
// started them again: a second stored across a restart could be believed
// up to twice MaxSenderRequestsPerSecond
// (TestSenderSumsSurviveRestart). Recovery now sums them again from the
// tail of the trail it reads anyway for the batch ids (collectBatchIDs,
// walkOpen): the batch entries the store received in the ceilingSeconds
// before it stopped (sumsHorizon) have their records decoded, and each
// record the store believed (not flagged, Requests above one) is charged
// to its counted second again, in the order stored. A record is counted
// at its time or, dated after it, at its entry's (countedSecond), so
// every count of a second from sumsHorizon on was received from it on:
// those seconds are summed again exactly. They are the seconds a sender
// whose newest counts are up to date can still charge (its window,
// ceilingSeconds back from its newest); an earlier second is charged
// afresh after a restart only by a record dated more than ceilingSeconds
// before it is received, which the record window (15 minutes by default)
// flags time_outside_window too. The cost is bounded by the window: the
// records of about 68 minutes of batches are decoded at start, not the
// trail's.

// A second before sumsHorizon is not summed again, and a sender whose
// newest counts were older than the store's last batch could still
// charge it: after a restart it started from nothing, and a fold of it
// (dated more than ceilingSeconds before it arrived) was believed past a
// second already at the ceiling
// (TestSecondBeforeRestartHorizonNotBelievedAgain). Such a second is
// outside every sender's window after a restart (Store.sumsFloor), as one
// whose sum was dropped is: a count of it is flagged
// FlagCountOutsideSenderWindow. A store that held no batch stored before
// the horizon has no floor: nothing was left out.

// sumsHorizon is the time from which recovery sums the batch entries'
// counts again: ceilingSeconds before the store last stored, as far as
// the start knows before it walks the trail: the newer of the signed
// head's time (when it last stopped or signed) and the end of sealed, the
// newest segment sealed (its digest; nil when none), so that a collector
// down for hours still reads the batches before it stopped; no later
// than now; on a whole second, since sums are per second. A head not
// signed for long only makes it read more.
func (s *Store) sumsHorizon(sealed *segmentDigest) time.Time {
	var end time.Time
	if h, err := s.readHead(); err == nil {
		end = h.Time
	}
	if sealed != nil && sealed.End.After(end) {
		end = sealed.End
	}
	if now := s.cfg.Now(); end.IsZero() || end.After(now) {
		end = now
	}
	return time.Unix(end.Unix()-ceilingSeconds, 0)
}

// entryCounts returns the believed counts by second of the batch entry
// line whose header is h, when recovery sums counts again (sumsFrom set)
// and h was stored from sumsFrom on; nil otherwise, or when the body does
// not decode (it is then no batch a sender is charged for).
func (s *Store) entryCounts(h *entryHeader, line []byte) []secondSum {
	if s.sumsFrom.IsZero() || h.Kind != KindBatch {
		return nil
	}
	if h.Time.Before(s.sumsFrom) {
		s.sumsFloor = s.sumsFrom.Unix() // its counts, if any, not summed again
		return nil
	}
	if !bytes.Contains(line, countKey) {
		return nil
	}
	var l entryLine
	var b entryBody
	if decodeEntryLine(line, &l) != nil || decodeBody(l.Body, &b, &s.sumsBuf) != nil {
		return nil
	}
	s.sumsRead++
	var out []secondSum
	for i := range b.Records {
		r := &b.Records[i]
		if n := r.Requests(); n > 1 {
			out = append(out, secondSum{sec: countedSecond(r, h.Time), sum: uint32(n)})
		}
	}
	return out
}

// countKey is the key of a record's count in a stored body, written only
// for a count above one (StoredRecord.appendJSON, and encoding/json's
// omitempty before it): a batch without it holds no count to sum, and is
// not decoded (most batches: a count is a fold of refusals). A string
// holding it is escaped (\"count\":), so it only costs a decode.
var countKey = []byte(`"count":`)

// restoreSums charges counts, a stored batch's believed counts by second
// (entryCounts), to sender's sums again. The store believed each, so none
// is refused here: the sums summed again are at most what they were.
func (d *dedup) restoreSums(sender string, counts []secondSum) {
	s := d.senders[sender]
	if s == nil || len(counts) == 0 {
		return
	}
	if s.sums == nil {
		s.sums = new(secondSums)
	}
	for _, c := range counts {
		s.sums.charge(c.sec, int64(c.sum))
	}
}

// heldAt reports whether c holds a sum a record received at now could
// still be charged against without being dated ceilingSeconds or more
// before now: its newest second is within ceilingSeconds of now. A
// certificate sender is not forgotten while it does (dedup.sweep), or
// coming back it would have each of those seconds believed up to the
// ceiling again (TestForgottenCertSenderSumsKept).
func (c *secondSums) heldAt(now time.Time) bool {
	return c != nil && c.used && c.newest > now.Unix()-ceilingSeconds
}
