package limiter

import (
	"math"
	"math/bits"
	"sync/atomic"
)

// tomb marks a bucket that was evicted or replaced; a take that sees it
// looks the key up again.
const tomb = math.MinInt64

// bucket is one key's token bucket in GCRA form. Only tat changes; key,
// base, scale, cap and since are immutable once the bucket is published,
// so a take is a load and a compare-and-swap of one word.
type bucket struct {
	key   uint64
	tat   atomic.Int64 // theoretical arrival time in units of 1/scale ns since base, or tomb
	base  int64        // limiter clock at which tat is 0
	scale int64        // the Limit.scale tat is counted in
	cap   int64        // the Limit.cap of the limit tat was counted under
	since int64        // the latest Limit.since the bucket has counted under (0: none)
}

// take takes n tokens (0 <= n <= l.burst) at now. It reports stale when
// the bucket must be replaced first: it was evicted, l's unit or capacity
// differs from the ones it counted under, or now is too far from its base
// for exact arithmetic.
func (b *bucket) take(l Limit, n, now int64) (r Result, stale bool) {
	t, nowU, ok, stale := b.reserve(&l, n, now)
	switch {
	case stale:
		return Result{}, true
	case !ok:
		return l.denied(t-nowU, n), false
	}
	return l.admitted(t + n*l.step - nowU), false
}

// reserve moves the theoretical arrival time on by n tokens at now if they
// fit under the burst, and returns the time t it started from and now, in
// bucket units, from which a caller can build the Result.
func (b *bucket) reserve(l *Limit, n, now int64) (t, nowU int64, ok, stale bool) {
	nowU, ok = b.units(l, now)
	if !ok {
		return 0, 0, false, true
	}
	for {
		w := b.tat.Load()
		if w == tomb {
			return 0, 0, false, true
		}
		t = onGrid(w, nowU, l.step)
		next := t + n*l.step
		if next-nowU > l.cap {
			return t, nowU, false, false
		}
		if n == 0 || b.tat.CompareAndSwap(w, next) {
			return t, nowU, true, false
		}
	}
}

// refund gives back n tokens at now, never filling the bucket past full.
func (b *bucket) refund(l Limit, n, now int64) (stale bool) {
	nowU, ok := b.units(&l, now)
	if !ok {
		return true
	}
	for {
		w := b.tat.Load()
		if w == tomb {
			return true
		}
		if w <= nowU {
			return false // already full
		}
		k := min(n, ceilDiv(w-nowU, l.step))
		if b.tat.CompareAndSwap(w, w-k*l.step) {
			return false
		}
	}
}

// onGrid returns the theoretical arrival time a take at nowU starts from:
// w itself, or if the bucket is full (w < nowU) the last point of w's
// emission grid at or before nowU. Keeping the grid instead of resetting
// to nowU keeps the partial progress toward the next token, so that on an
// integer-nanosecond clock a bucket admits exactly burst + floor(rate*T)
// over T from creation even when Per/Events is not a whole number of
// nanoseconds; the bucket still never holds more than burst whole tokens.
func onGrid(w, nowU, step int64) int64 {
	if w >= nowU {
		return w
	}
	return w + (nowU-w)/step*step
}

// units converts now to bucket units. A now before the bucket's base
// (the clock went backwards) counts as the base, which is a time the
// bucket has already seen, so it can never admit extra. It fails when l's
// unit or capacity is not the one the bucket counted under.
func (b *bucket) units(l *Limit, now int64) (int64, bool) {
	if b.scale != l.scale || b.cap != l.cap {
		return 0, false
	}
	rel := max(now-b.base, 0)
	if rel > l.window {
		return 0, false
	}
	return rel * l.scale, true
}

// idleWait returns 0 if the bucket is full at now (it can be evicted
// without changing any decision) and otherwise the ns until it is.
func (b *bucket) idleWait(w, now int64) int64 {
	full := ceilDiv(max(w, 0), b.scale) // ns after base at which the bucket is full
	return max(full-(now-b.base), 0)
}

// successor returns the bucket replacing b, whose final tat was w, for
// takes under l at now: rebased, and its debt carried over as the same
// share of l's capacity: a bucket empty to a fraction f of its capacity is
// empty to f of l's. A debt of d units of b's capacity is d*l.cap/b.cap
// units of l's; the conversion rounds up (by under one unit), so a limit
// change never frees a token, and l's capacity bounds it. A change of rate
// that keeps the capacity's length in time (the shares of a global limit,
// 20/s burst 20 for 10/s burst 10) keeps the debt as it is.
//
// Carried as time whatever the capacity, the debt made a change of rate
// hand out or withhold a bucketful: acme at 100/s burst 10 that had used
// its 10 took 9 more at once under 1/h burst 10 (10 tokens' debt is 100 ms
// of a 10 h bucket), and a client drained under 1/h burst 10 was refused
// for 10 h under 100/s burst 10, its raise notwithstanding
// (TestRateChangeCarriesFullness). Carried as tokens, it was stricter
// still, but the shares of a global limit let through more than the limit
// for a second after a sidecar joined (TestGlobalTenantLimit: 119 of 100):
// a sidecar whose share rose had its tokens to spend at once, while one
// whose share fell owed more than its burst, which paid nothing back.
//
// The debt is carried as of the time l came into force (Limit.Since), or
// the bucket's base if that is later: a client drained at 100/s whose
// next request came a second after a push set 1/h would otherwise have
// earned its bucket back at 100/s meanwhile, and a client raised from 1/h
// to 100/s whose next request came 50 ms after the push would have earned
// nothing (TestRateChangeOverTheWire). That holds only for a limit at
// least as recent as any the bucket has counted under: a take with an
// older one is a request still holding the tables of the policy before
// (it loaded them before the push was published), and converts at now.
// The bucket keeps the latest since it has seen, so the next take under
// the newer limit converts back as of that stale take, not as of its own
// time: converting at its own time, after the stale take had set the
// bucket's base past the push, let the time between go at the old rate,
// and acme, drained at 100/s, had its 10 back a second after a push to
// 1/h (TestStaleLimitKeepsSince). A rebase under the same limit is at
// now.
//
// A change of limit leaves a bucket empty at most. Only takes under the
// old limit after l came into force (requests still holding the tables
// before the push) make it owe past its capacity at Since, and carried as
// a share that was as many of l's buckets: eleven requests at 1000/s burst
// 1 in the 10 ms before a push to 1/s burst 1000 was published refused
// the client for 2 h 47 min under it (TestSinceNeverOwesPastEmpty).
// Capped, it still owes at Since at least what it owes at now (at most
// the capacity, as takes are admitted only within it).
func (b *bucket) successor(w int64, l Limit, now int64) *bucket {
	base := max(now, b.base)
	changed := b.scale != l.scale || b.cap != l.cap
	if changed && l.since > 0 && l.since >= b.since {
		base = min(max(l.since, b.base), base)
	}
	debt := debtAfter(w, b.scale, base-b.base)
	if changed {
		debt = min(debt, b.cap)
	}
	nb := &bucket{key: b.key, base: base, scale: l.scale, cap: l.cap, since: max(b.since, l.since)}
	nb.tat.Store(convert(debt, b.cap, l.cap))
	return nb
}

// debtAfter returns w (units of 1/scale ns) less d ns, floored at 0,
// without overflowing for long idle times. A w below 0 (a refund can leave
// a full bucket's tat up to a step before its base) is no debt: returned
// as it was, convert read it as a huge unsigned number and saturated it to
// maxUnits, a full bucket refused for 73 years
// (TestRefundAfterConversionNoLockout).
func debtAfter(w, scale, d int64) int64 {
	if w <= 0 || d > w/scale {
		return 0
	}
	return w - d*scale
}

// convert returns u*to/from for u >= 0, rounding up and saturating at
// maxUnits; a u below 0 is no debt.
func convert(u, from, to int64) int64 {
	if u <= 0 {
		return 0
	}
	if from == to {
		return u
	}
	hi, lo := bits.Mul64(uint64(u), uint64(to))
	if hi >= uint64(from) {
		return maxUnits
	}
	q, rem := bits.Div64(hi, lo, uint64(from))
	if rem != 0 {
		q++
	}
	return int64(min(q, maxUnits))
}
