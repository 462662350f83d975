package collector

import (
	"cmp"
	"slices"
	"time"
	"unsafe"

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
// MaxSenderRequestsPerSecond: it counts one request (Requests).
const FlagCountPastSenderCeiling = "count_past_sender_ceiling"

// FlagCountOutsideSenderWindow marks a record whose count the store did
// not believe because its second lies outside the seconds the store
// holds its sender's sums for: ceilingSeconds or more before the newest
// second its sender's counts were summed in, or, after a restart, before
// the first second recovery summed again (restore.go). It counts one
// request (Requests). The bound is deliberate: the sums of a
// sender are kept for ceilingSeconds seconds (16 KiB at most), and a
// second whose sum is gone cannot be summed afresh, or a sender could
// have each of its past seconds believed up to the ceiling again. Before,
// such a record was flagged FlagCountPastSenderCeiling, as if its second
// were full.
const FlagCountOutsideSenderWindow = "count_outside_sender_window"

// ceilingSeconds is how many seconds of record time, up to the newest, a
// sender's sums are kept for: 68 minutes, so that a sidecar replaying its
// spool behind the others of its sender is still believed. A fold dated
// further back counts one: a second whose sum was dropped cannot be summed
// afresh.
const ceilingSeconds = 4096

// maxFewSeconds is how many seconds a sender's sums list, 16 bytes each,
// before they take an array of all ceilingSeconds (16 KiB, what the list
// would hold by then): a sender that sent counts in a few seconds holds a
// few dozen bytes, and none more than some 16 KiB.
const maxFewSeconds = ceilingSeconds * 4 / 16

// secondSums are one sender's believed counts of its last ceilingSeconds
// seconds of record time: the seconds summed, listed, or once more than
// maxFewSeconds of them were, an array of every second, kept until the
// sender's counts move on ceilingSeconds at once. Not safe for concurrent
// use: the store's lock guards it.
type secondSums struct {
	newest int64                   // the newest second summed, in Unix seconds
	few    []secondSum             // the seconds summed, oldest first, unless dense
	all    *[ceilingSeconds]uint32 // when dense: second s at s mod ceilingSeconds, for s in (newest-ceilingSeconds, newest]
	used   bool
	dense  bool
}

// secondSum is the believed count of one second.
type secondSum struct {
	sec int64
	sum uint32
}

// charge adds n to the sum of second sec and returns "" when it was
// believed; else nothing is added and it returns the flag the record gets:
// FlagCountOutsideSenderWindow when sec is ceilingSeconds or more before
// the newest second, FlagCountPastSenderCeiling when n would take its sum
// past MaxSenderRequestsPerSecond.
func (c *secondSums) charge(sec, n int64) string {
	if !c.used {
		c.used, c.newest = true, sec
	}
	if sec <= c.newest-ceilingSeconds {
		return FlagCountOutsideSenderWindow
	}
	if sec > c.newest {
		c.advance(sec)
	}
	if c.dense {
		i := sumSlot(sec)
		if int64(c.all[i])+n > MaxSenderRequestsPerSecond {
			return FlagCountPastSenderCeiling
		}
		c.all[i] += uint32(n)
		return ""
	}
	return c.chargeFew(sec, n)
}

// chargeFew is charge on the listed seconds, sec within them or after.
func (c *secondSums) chargeFew(sec, n int64) string {
	i, found := slices.BinarySearchFunc(c.few, sec, func(e secondSum, s int64) int { return cmp.Compare(e.sec, s) })
	if found {
		if int64(c.few[i].sum)+n > MaxSenderRequestsPerSecond {
			return FlagCountPastSenderCeiling
		}
		c.few[i].sum += uint32(n)
		return ""
	}
	if n > MaxSenderRequestsPerSecond {
		return FlagCountPastSenderCeiling
	}
	if len(c.few) == maxFewSeconds {
		c.makeDense()
		return c.charge(sec, n)
	}
	c.few = slices.Insert(c.few, i, secondSum{sec: sec, sum: uint32(n)})
	return ""
}

// makeDense moves the listed seconds into the array.
func (c *secondSums) makeDense() {
	if c.all == nil {
		c.all = new([ceilingSeconds]uint32)
	} else {
		clear(c.all[:])
	}
	for _, e := range c.few {
		c.all[sumSlot(e.sec)] = e.sum
	}
	c.few, c.dense = c.few[:0], true
}

// advance makes sec the newest second, dropping the sums of the seconds
// it leaves behind; moving on ceilingSeconds or more drops every sum, and
// the seconds summed afresh are listed again.
func (c *secondSums) advance(sec int64) {
	switch {
	case sec-c.newest >= ceilingSeconds:
		c.few, c.dense = c.few[:0], false
	case c.dense:
		for s := c.newest + 1; s <= sec; s++ {
			c.all[sumSlot(s)] = 0
		}
	default:
		kept, _ := slices.BinarySearchFunc(c.few, sec-ceilingSeconds+1, func(e secondSum, s int64) int { return cmp.Compare(e.sec, s) })
		c.few = slices.Delete(c.few, 0, kept)
	}
	c.newest = sec
}

// sumSlot is the index of second sec in secondSums.all.
func sumSlot(sec int64) int {
	return int(uint64(sec) % ceilingSeconds)
}

// load makes c a copy of src (of no sums when src is nil), in c's own
// storage: the store's scratch, kept from batch to batch.
func (c *secondSums) load(src *secondSums) {
	if src == nil {
		c.used, c.dense, c.few = false, false, c.few[:0]
		return
	}
	c.used, c.newest, c.dense = src.used, src.newest, src.dense
	c.few = append(c.few[:0], src.few...)
	if src.dense {
		if c.all == nil {
			c.all = new([ceilingSeconds]uint32)
		}
		*c.all = *src.all
	}
}

// keep makes c a copy of work, holding no storage it does not use: a
// sender's sums, in proportion to the seconds it summed.
func (c *secondSums) keep(work *secondSums) {
	c.used, c.newest, c.dense = work.used, work.newest, work.dense
	if work.dense {
		if c.all == nil {
			c.all = new([ceilingSeconds]uint32)
		}
		*c.all, c.few = *work.all, nil
		return
	}
	c.all = nil
	switch n := len(work.few); {
	case n == 0:
		c.few = nil
	case cap(c.few) < n:
		c.few = append(make([]secondSum, 0, min(2*n, maxFewSeconds)), work.few...)
	case cap(c.few) > 2*n+4:
		c.few = slices.Clone(work.few)
	default:
		c.few = append(c.few[:0], work.few...)
	}
}

// retainedBytes is the memory c holds.
func (c *secondSums) retainedBytes() int {
	n := int(unsafe.Sizeof(*c)) + cap(c.few)*int(unsafe.Sizeof(secondSum{}))
	if c.all != nil {
		n += int(unsafe.Sizeof(*c.all))
	}
	return n
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
// FlagCountPastSenderCeiling each past the ceiling
// (FlagCountOutsideSenderWindow each before its window), and returns the copy,
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
			work = &s.sumsScratch
			work.load(s.seen.sumsOf(b.Sender))
		}
		if flag := s.chargeLocked(work, countedSecond(r, at), n); flag != "" {
			r.Flags = append(slices.Clip(r.Flags), flag)
		}
	}
	return work
}

// chargeLocked is work.charge, with the seconds before the store's
// sumsFloor outside the window: their sums were not summed again at the
// restart (restore.go).
func (s *Store) chargeLocked(work *secondSums, sec, n int64) string {
	if sec < s.sumsFloor {
		return FlagCountOutsideSenderWindow
	}
	return work.charge(sec, n)
}

// keepSenderSumsLocked makes work, from holdSenderCountsLocked, sender's
// sums now that its batch is stored.
func (s *Store) keepSenderSumsLocked(sender string, work *secondSums) {
	if work == nil {
		return
	}
	s.seen.keepSums(sender, work)
}
