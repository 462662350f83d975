package limiter

import (
	"math"
	"time"
)

// Forever is the RetryAfter of a take that can never be admitted: a take
// on a deny-all Limit, or a take of more tokens than the burst.
const Forever = time.Duration(math.MaxInt64)

// maxUnits bounds every bucket quantity (time since base, capacity) so
// that sums of two of them never overflow an int64.
const maxUnits = 1 << 61

// Limit is a rate of Events per Per with a Burst. The rate is kept as an
// exact rational: time inside a bucket is counted in units of 1/scale
// nanoseconds, where scale = Events/gcd(Events, Per), so the emission
// interval Per/Events is the integer step and no rounding ever accumulates.
//
// The zero Limit means "no limit". A Limit made by NewLimit with
// events <= 0 or per <= 0 denies every take (fail closed).
type Limit struct {
	events int64
	per    time.Duration
	burst  int64
	scale  int64 // time unit is 1/scale ns
	step   int64 // emission interval Per/Events, in units
	cap    int64 // burst * step, in units
	window int64 // ns a bucket may span from its base before it is rebased; -1: deny every take
	since  int64 // limiter clock at which the limit came into force (0: unknown)
}

// deny reports whether l denies every take (NewLimit of a rate of zero).
// It is kept in window, not a field of its own, so that a Limit is 64
// bytes: the data plane's tables hold them in arrays, and at 72 an element
// straddled two cache lines (BenchmarkDecide 3% slower).
func (l *Limit) deny() bool { return l.window < 0 }

// Since returns l as in force from at, a limiter clock reading (Now): the
// time a policy that set it was applied. A bucket that counted at another
// rate carries what it owed at that time over to l's rate, and earns from
// then on at l's; a Limit without it converts at the bucket's next take,
// so the time between went at the rate before.
func (l Limit) Since(at int64) Limit {
	l.since = at
	return l
}

// NewLimit returns the Limit of events per per with the given burst.
//
// If events <= 0 or per <= 0 the Limit denies every take: rate zero means
// nothing is admitted, never "unlimited" (use the zero Limit for that).
// A burst below 1 is treated as 1. Per is capped at 2^61 ns (73 years) and
// the burst at 2^61 / (Per/gcd(Events, Per)) so that bucket arithmetic
// cannot overflow; realistic limits are far below both caps.
func NewLimit(events int64, per time.Duration, burst int64) Limit {
	if events <= 0 || per <= 0 {
		return Limit{events: max(events, 0), per: max(per, 0), window: -1}
	}
	per = min(per, maxUnits)
	burst = max(burst, 1)
	g := gcd(events, int64(per))
	scale, step := events/g, int64(per)/g
	burst = min(burst, maxUnits/step)
	return Limit{
		events: events,
		per:    per,
		burst:  burst,
		scale:  scale,
		step:   step,
		cap:    burst * step,
		window: maxUnits / scale,
	}
}

// Burst returns the bucket size: how many takes a full bucket admits at once.
func (l Limit) Burst() int64 { return l.burst }

// Events returns the number of events admitted per Per.
func (l Limit) Events() int64 { return l.events }

// Per returns the period over which Events are admitted.
func (l Limit) Per() time.Duration { return l.per }

// IsZero reports whether l is the zero Limit, which admits every take
// without creating a bucket.
func (l Limit) IsZero() bool {
	// Every Limit from NewLimit has a step or is deny-all, so two fields
	// decide; comparing the whole struct cost a memequal per take.
	return l.step == 0 && l.window == 0
}

// unlimited is the Result of a take on the zero Limit.
func unlimited(l Limit) Result {
	return Result{OK: true, Remaining: math.MaxInt64, Limit: l}
}

// never is the Result of a take that no amount of waiting admits.
func never(l Limit) Result {
	return Result{RetryAfter: Forever, Limit: l}
}

// admitted is the Result of an admitted take that left debt units of
// theoretical arrival time ahead of now.
func (l Limit) admitted(debt int64) Result {
	return Result{
		OK:        true,
		Remaining: (l.cap - debt) / l.step,
		Reset:     l.nanos(max(debt, 0)),
		Limit:     l,
	}
}

// denied is the Result of a take of n tokens refused with debt units of
// theoretical arrival time ahead of now.
func (l Limit) denied(debt, n int64) Result {
	return Result{
		Remaining:  max(l.cap-debt, 0) / l.step,
		RetryAfter: l.nanos(debt + n*l.step - l.cap),
		Reset:      l.nanos(max(debt, 0)),
		Limit:      l,
	}
}

// nanos converts units to a Duration, rounding up so that waiting that
// long always suffices.
func (l Limit) nanos(units int64) time.Duration {
	return time.Duration(ceilDiv(units, l.scale))
}

// ceilDiv returns ceil(a/b) for a >= 0, b > 0.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if q*b != a {
		q++
	}
	return q
}

// gcd returns the greatest common divisor of a, b > 0.
func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
