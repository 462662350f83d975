package collector

import (
	"slices"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// The sender ceiling: a record's count is believed up to
// MaxRequestsPerRecord (Requests), and a sender's byte quota lets some
// 34,000 records a second through, so one sender could have some 2.2
// billion refusals a second believed, every one driving detection's
// rules, incident assess and the evidence pack's noisy-neighbour shares
// (TestSenderCountsHeldPerSecond). One sender (a token, a certificate) may
// be a whole fleet of sidecars, and the instance that tells them apart is
// the sender's own claim, so the ceiling is the fleet's: the store sums,
// per sender and second of record time, the counts it believes, and a
// record whose count would take its second past MaxSenderRequestsPerSecond
// counts one request and is stored flagged FlagCountPastSenderCeiling.

// MaxSenderRequestsPerSecond is the most requests the store believes the
// counts of one sender's records stand for in one second of record time:
// policy.MaxGlobalSidecars (1,000, the most global_limits.max_sidecars
// can be, and its default: the most sidecars a deployment's limits are
// shared among) each writing one full fold (audit.MaxFoldCount), some 65.5
// million. The collector reads no policy, so it takes the most any policy
// allows. A record counting one request is not summed: the byte quota
// bounds those.
const MaxSenderRequestsPerSecond = policy.MaxGlobalSidecars * audit.MaxFoldCount

// FlagCountPastSenderCeiling marks a record whose count the store did not
// believe because its sender's counts of its second had reached
// MaxSenderRequestsPerSecond, or because it was dated ceilingSeconds or
// more before the newest second its sender's counts were summed in: it
// counts one request (Requests).
const FlagCountPastSenderCeiling = "count_past_sender_ceiling"

// ceilingSeconds is how many seconds of record time, up to the newest, a
// sender's sums are kept for: 68 minutes, so that a sidecar replaying its
// spool behind the others of its sender is still believed, in 16 KiB per
// sender that sent a count. A fold dated further back counts one: a
// second whose sum was dropped cannot be summed afresh.
const ceilingSeconds = 4096

// secondSums are one sender's believed counts of its last ceilingSeconds
// seconds of record time. Not safe for concurrent use: the store's lock
// guards it.
type secondSums struct {
	used   bool
	newest int64                  // the newest second summed, in Unix seconds
	sums   [ceilingSeconds]uint32 // of second s at s mod ceilingSeconds, for s in (newest-ceilingSeconds, newest]
}

// charge adds n to the sum of second sec and reports whether it was
// believed: false, and nothing added, when sec is ceilingSeconds or more
// before the newest second or n would take its sum past
// MaxSenderRequestsPerSecond.
func (c *secondSums) charge(sec, n int64) bool {
	if !c.used {
		c.used, c.newest = true, sec
	}
	if sec <= c.newest-ceilingSeconds {
		return false
	}
	if sec > c.newest {
		c.advance(sec)
	}
	i := sumSlot(sec)
	if int64(c.sums[i])+n > MaxSenderRequestsPerSecond {
		return false
	}
	c.sums[i] += uint32(n)
	return true
}

// advance makes sec the newest second, clearing the sums of the seconds
// it leaves behind.
func (c *secondSums) advance(sec int64) {
	if sec-c.newest >= ceilingSeconds {
		clear(c.sums[:])
	} else {
		for s := c.newest + 1; s <= sec; s++ {
			c.sums[sumSlot(s)] = 0
		}
	}
	c.newest = sec
}

// sumSlot is the index of second sec in secondSums.sums.
func sumSlot(sec int64) int {
	return int(uint64(sec) % ceilingSeconds)
}

// countedSecond is the second of record time r's count is summed in: its
// time, or at, when the store receives it, for a record dated after that
// (StoredRecord.CountedAt).
func countedSecond(r *StoredRecord, at time.Time) int64 {
	t := r.Time
	if t.After(at) {
		t = at
	}
	return t.Unix()
}

// holdSenderCountsLocked sums the counts of b's records that Requests
// believes into a copy of its sender's sums, flagging
// FlagCountPastSenderCeiling each past the ceiling, and returns the copy,
// for keepSenderSumsLocked once b is stored; nil when no record of b has
// a count believed.
func (s *Store) holdSenderCountsLocked(b *Batch, at time.Time) *secondSums {
	var work *secondSums
	for i := range b.Records {
		r := &b.Records[i]
		n := r.Requests()
		if n <= 1 {
			continue
		}
		if work == nil {
			work = s.sumsScratchLocked(b.Sender)
		}
		if !work.charge(countedSecond(r, at), n) {
			r.Flags = append(slices.Clip(r.Flags), FlagCountPastSenderCeiling)
		}
	}
	return work
}

// sumsScratchLocked returns the store's scratch sums holding a copy of
// sender's.
func (s *Store) sumsScratchLocked(sender string) *secondSums {
	if s.sumsScratch == nil {
		s.sumsScratch = new(secondSums)
	}
	w := s.sumsScratch
	if cur := s.seen.sumsOf(sender); cur != nil {
		*w = *cur
	} else {
		*w = secondSums{}
	}
	return w
}

// keepSenderSumsLocked makes work, from holdSenderCountsLocked, sender's
// sums now that its batch is stored; the sums they replace become the
// scratch.
func (s *Store) keepSenderSumsLocked(sender string, work *secondSums) {
	if work == nil {
		return
	}
	s.sumsScratch = s.seen.swapSums(sender, work)
}
