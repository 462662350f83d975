package limiter

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimitChangeKeepsState(t *testing.T) {
	t.Parallel()
	tb := NewTable(Config{})
	old := NewLimit(10, time.Second, 10) // 100ms per token
	drain(t, tb, 1, old, 0)
	// A policy push to a bigger limit with the same capacity in time (1s),
	// and one with another scale (3/s, also 1s of capacity).
	for _, nl := range []Limit{NewLimit(20, time.Second, 20), NewLimit(3, time.Second, 3)} {
		if r := tb.AllowAt(1, nl, 0); r.OK {
			t.Errorf("after drain, change to %d/%v burst %d admitted a free take: %+v", nl.Events(), nl.Per(), nl.Burst(), r)
		}
	}
	// The debt of one second carries over: under 20/s burst 20 the bucket
	// is full again after 1s, not before.
	nl := NewLimit(20, time.Second, 20)
	if r := tb.AllowAt(1, nl, int64(time.Second)-1); r.OK && r.Remaining >= 19 {
		t.Errorf("just before 1s: got %+v, want debt kept", r)
	}
	if got := drain(t, tb, 2, nl, 0); got != 20 {
		t.Errorf("fresh key under new limit: admitted %d, want 20", got)
	}
}

func TestLimitChangeTightens(t *testing.T) {
	t.Parallel()
	tb := NewTable(Config{})
	loose := NewLimit(100, time.Second, 100)
	tb.TakeNAt(1, loose, 50, 0)
	tight := NewLimit(1, time.Second, 10)
	// Half the bucket used is half of the new one: 5 of 10 tokens. (As
	// time, 500 ms of a 10 s bucket, it was 9.)
	if got := drain(t, tb, 1, tight, 0); got != 5 {
		t.Errorf("after tightening: admitted %d, want 5", got)
	}
}

// TestRateChangeCarriesFullness: a bucket carries how empty it is across a
// change of limit: empty to a fraction f of its capacity, it is empty to f
// of the new one, and earns back at the new rate. Carried as time, the
// debt handed out most of a bucket when a rate was lowered (9 more takes
// at once at 1/h) and withheld one for hours when it was raised.
func TestRateChangeCarriesFullness(t *testing.T) {
	t.Parallel()
	ms := int64(time.Millisecond)
	for _, c := range []struct {
		name     string
		from, to Limit
		took     int64 // under from, at 0
		now      int64 // admitted under to at 0
		at       int64 // ns later, after those
		then     int64 // admitted under to at at
		retry    time.Duration
	}{
		// acme at 100/s burst 10 used its 10, then a push set 1/h burst 10.
		{"lowered", NewLimit(100, time.Second, 10), NewLimit(1, time.Hour, 10), 10, 0, int64(time.Hour), 1, time.Hour},
		// Drained at 1/h burst 10, then raised to 100/s burst 10.
		{"raised", NewLimit(1, time.Hour, 10), NewLimit(100, time.Second, 10), 10, 0, 10 * ms, 1, 10 * time.Millisecond},
		{"raised, 100ms on", NewLimit(1, time.Hour, 10), NewLimit(100, time.Second, 10), 10, 0, 100 * ms, 10, 10 * time.Millisecond},
		// Empty at 10/s burst 10, then 20/s burst 20: empty, a token in 50 ms.
		{"burst raised", NewLimit(10, time.Second, 10), NewLimit(20, time.Second, 20), 10, 0, 50 * ms, 1, 50 * time.Millisecond},
		// Empty at 10/s burst 10, then 10/s burst 20: empty, a token in 100 ms.
		{"burst raised alone", NewLimit(10, time.Second, 10), NewLimit(10, time.Second, 20), 10, 0, 100 * ms, 1, 100 * time.Millisecond},
		// Half of 100 taken, then 1/s burst 10: half of 10 are left.
		{"half used, lowered", NewLimit(100, time.Second, 100), NewLimit(1, time.Second, 10), 50, 5, int64(time.Second), 1, time.Second},
		// Half of 10 taken at 1/h, then 100/s burst 100: half of 100.
		{"half used, raised", NewLimit(1, time.Hour, 10), NewLimit(100, time.Second, 100), 5, 50, 10 * ms, 1, 10 * time.Millisecond},
	} {
		tb := NewTable(Config{})
		if r := tb.TakeNAt(1, c.from, c.took, 0); !r.OK {
			t.Fatalf("%s: taking %d under %d/%v: %+v", c.name, c.took, c.from.Events(), c.from.Per(), r)
		}
		if got := drain(t, tb, 1, c.to, 0); got != c.now {
			t.Errorf("%s: admitted %d at once under %d/%v burst %d, want %d", c.name, got, c.to.Events(), c.to.Per(), c.to.Burst(), c.now)
		}
		if r := tb.AllowAt(1, c.to, c.at-1); r.OK && c.then == 1 {
			t.Errorf("%s: admitted 1ns before %v", c.name, time.Duration(c.at))
		} else if r.OK {
			tb.RefundAt(1, c.to, 1, c.at-1)
		}
		if got := drain(t, tb, 1, c.to, c.at); got != c.then {
			t.Errorf("%s: admitted %d at %v under %d/%v burst %d, want %d", c.name, got, time.Duration(c.at), c.to.Events(), c.to.Per(), c.to.Burst(), c.then)
		}
		if r := tb.AllowAt(1, c.to, c.at); r.OK || r.RetryAfter != c.retry {
			t.Errorf("%s: then %+v, want denied with RetryAfter %v", c.name, r, c.retry)
		}
	}

	// A limit in force since a push (Since) converts what the bucket owed
	// then, however late its next take: drained at 100/s burst 10, a push
	// to 1/h burst 10 at 0, the next request a second later. Without the
	// time of the push, the bucket converted at that request, having
	// earned its 10 back at 100/s meanwhile, and all 10 were admitted.
	for _, c := range []struct {
		name     string
		to       Limit
		admitted int64
	}{
		{"since the push", NewLimit(1, time.Hour, 10).Since(int64(time.Second)), 0},
		{"no time given", NewLimit(1, time.Hour, 10), 10},
	} {
		tb := NewTable(Config{})
		tb.TakeNAt(1, NewLimit(100, time.Second, 10), 10, int64(time.Second))
		if got := drain(t, tb, 1, c.to, 2*int64(time.Second)); got != c.admitted {
			t.Errorf("lowered, %s, next take 1s on: admitted %d, want %d", c.name, got, c.admitted)
		}
	}
	// And a raise: drained at 1/h, raised to 100/s at 0, the next request
	// 50 ms on finds 5 tokens earned at 100/s.
	tb := NewTable(Config{})
	tb.TakeNAt(1, NewLimit(1, time.Hour, 10), 10, int64(time.Second))
	if got := drain(t, tb, 1, NewLimit(100, time.Second, 10).Since(int64(time.Second)), int64(time.Second)+50*ms); got != 5 {
		t.Errorf("raised, next take 50 ms on: admitted %d, want 5", got)
	}
	// A time before the bucket's base (a limit older than the bucket's
	// last change) converts at the take: nothing is earned twice.
	tb = NewTable(Config{})
	tb.TakeNAt(1, NewLimit(100, time.Second, 10), 10, int64(time.Second))
	if got := drain(t, tb, 1, NewLimit(1, time.Hour, 10).Since(1), int64(time.Second)); got != 0 {
		t.Errorf("a limit in force since before the bucket: admitted %d, want 0", got)
	}

	// Half a token owed at 10/s burst 10 (50ms of a 1 s bucket) is 50 ms
	// of 20/s burst 20's 1 s: 19 of 20 are left, not 19 and a half
	// rounded up.
	tb = NewTable(Config{})
	tb.AllowAt(1, NewLimit(10, time.Second, 10), 0)
	if got := drain(t, tb, 1, NewLimit(20, time.Second, 20), 50*ms); got != 19 {
		t.Errorf("half a token owed: admitted %d under 20/s burst 20, want 19", got)
	}

	// A change and its undoing: nothing is lost or gained on the way.
	tb = NewTable(Config{})
	loose, tight := NewLimit(100, time.Second, 100), NewLimit(1, time.Second, 10)
	tb.TakeNAt(1, loose, 50, 0)
	if r := tb.TakeNAt(1, tight, 0, 0); !r.OK || r.Remaining != 5 {
		t.Errorf("tightened: %+v, want 5 remaining", r)
	}
	if got := drain(t, tb, 1, loose, 0); got != 50 {
		t.Errorf("loosened again: admitted %d, want the 50 left", got)
	}
}

func TestTimeBackwardsNeverAdmitsExtra(t *testing.T) {
	t.Parallel()
	l := NewLimit(10, time.Second, 5)
	tb := NewTable(Config{})
	const now = int64(time.Hour)
	if got := drain(t, tb, 1, l, now); got != 5 {
		t.Fatalf("drain: admitted %d, want 5", got)
	}
	for _, back := range []int64{1, int64(time.Millisecond), int64(time.Second), now, now + int64(time.Hour)} {
		if got := drain(t, tb, 1, l, now-back); got != 0 {
			t.Errorf("clock back %v: admitted %d, want 0", time.Duration(back), got)
		}
	}
	if got := drain(t, tb, 1, l, now+int64(100*time.Millisecond)); got != 1 {
		t.Errorf("100ms later: admitted %d, want 1", got)
	}
}

func TestRefundNeverExceedsBurst(t *testing.T) {
	t.Parallel()
	l := NewLimit(10, time.Second, 5)
	tb := NewTable(Config{})
	tb.TakeNAt(1, l, 2, 0)
	tb.RefundAt(1, l, 100, 0)
	if got := drain(t, tb, 1, l, 0); got != 5 {
		t.Errorf("after over-refund: admitted %d, want 5", got)
	}
	tb.RefundAt(2, l, 3, 0) // no bucket: nothing to refund into
	if got := drain(t, tb, 2, l, 0); got != 5 {
		t.Errorf("refund to new key: admitted %d, want 5", got)
	}
	tb.RefundAt(1, l, 2, 0)
	if got := drain(t, tb, 1, l, 0); got != 2 {
		t.Errorf("after refund of 2: admitted %d, want 2", got)
	}
}

func TestTakeAtAllOrNothing(t *testing.T) {
	t.Parallel()
	tb := NewTable(Config{})
	a, b, c := NewLimit(10, time.Second, 5), NewLimit(10, time.Second, 2), NewLimit(10, time.Second, 9)
	takes := []Take{{1, &a}, {2, &b}, {3, &c}, {4, &Limit{}}}
	for i := 0; i < 2; i++ {
		r, idx := tb.TakeAt(takes, 0)
		if !r.OK || idx != -1 || r.Limit != b || r.Remaining != int64(1-i) {
			t.Fatalf("take %d: got %+v at %d, want admitted by the 2-burst limit", i, r, idx)
		}
	}
	r, idx := tb.TakeAt(takes, 0)
	if r.OK || idx != 1 || r.RetryAfter != 100*time.Millisecond {
		t.Fatalf("third take: got %+v at %d, want denial at 1 with RetryAfter 100ms", r, idx)
	}
	// Key 1 got its token back: 3 left of 5.
	if got := drain(t, tb, 1, a, 0); got != 3 {
		t.Errorf("key 1 after refund: admitted %d, want 3", got)
	}
	if r, idx := tb.TakeAt(nil, 0); !r.OK || idx != -1 {
		t.Errorf("empty takes: got %+v at %d, want admitted", r, idx)
	}
}

// TakeAll and TakeAllTo decide exactly as TakeAt does, on the same
// sequence of takes over buckets of different limits, including new keys,
// deny-all and zero limits, and leave the buckets in the same state;
// TakeAllTo writes the denial's Result and leaves it as it was on an
// admission.
func TestTakeAllMatchesTakeAt(t *testing.T) {
	t.Parallel()
	limits := []Limit{NewLimit(10, time.Second, 3), NewLimit(1, time.Second, 1), NewLimit(3, 7*time.Millisecond, 5), {}, NewLimit(0, time.Second, 1)}
	rng := rand.New(rand.NewPCG(1, 2))
	ref, lean, into := NewTable(Config{}), NewTable(Config{}), NewTable(Config{})
	mark := Result{Remaining: -7} // no take yields it
	now := int64(0)
	for i := 0; i < 20000; i++ {
		now += rng.Int64N(int64(20 * time.Millisecond))
		takes := make([]Take, 1+rng.IntN(3))
		for j := range takes {
			l := limits[rng.IntN(len(limits)-1)]
			if rng.IntN(500) == 0 {
				l = limits[len(limits)-1] // rarely, deny-all
			}
			takes[j] = Take{Key: uint64(rng.IntN(8)), Limit: &l}
		}
		want, wantIdx := ref.TakeAt(takes, now)
		got, idx := lean.TakeAll(takes, now)
		if idx != wantIdx || (idx >= 0 && got != want) {
			t.Fatalf("step %d: TakeAll = %d %+v, TakeAt = %d %+v", i, idx, got, wantIdx, want)
		}
		r := mark
		if idx := into.TakeAllTo(takes, now, &r); idx != wantIdx || (idx >= 0 && r != want) || (idx < 0 && r != mark) {
			t.Fatalf("step %d: TakeAllTo = %d %+v, TakeAt = %d %+v", i, idx, r, wantIdx, want)
		}
	}
	for k := uint64(0); k < 8; k++ {
		for _, l := range limits[:3] {
			if a, b := ref.TakeNAt(k, l, 0, now), lean.TakeNAt(k, l, 0, now); a != b {
				t.Errorf("key %d after the run: TakeAt table %+v, TakeAll table %+v", k, a, b)
			}
			if a, b := ref.TakeNAt(k, l, 0, now), into.TakeNAt(k, l, 0, now); a != b {
				t.Errorf("key %d after the run: TakeAt table %+v, TakeAllTo table %+v", k, a, b)
			}
		}
	}
}

func TestFullTableFailsClosed(t *testing.T) {
	t.Parallel()
	l := NewLimit(1, time.Second, 2)
	tb := NewTable(Config{MaxKeys: 4, Shards: 1})
	for k := uint64(0); k < 4; k++ {
		if !tb.AllowAt(k, l, 0).OK {
			t.Fatalf("key %d denied", k)
		}
	}
	if got := tb.Len(); got != 4 {
		t.Fatalf("Len = %d, want 4", got)
	}
	// No bucket is idle before 1s: a new key is denied, never admitted
	// unlimited, and told when a bucket will be evictable.
	r := tb.AllowAt(99, l, int64(500*time.Millisecond))
	if want := (Result{RetryAfter: 500 * time.Millisecond, Limit: l}); r != want {
		t.Errorf("new key in full table: got %+v, want %+v", r, want)
	}
	if !tb.AllowAt(2, l, int64(500*time.Millisecond)).OK {
		t.Error("existing key denied in full table")
	}
	// At 1s keys 0, 1 and 3 are full again and evicted to admit key 99.
	if !tb.AllowAt(99, l, int64(time.Second)).OK {
		t.Error("new key denied after buckets went idle")
	}
	if got := tb.Len(); got != 2 {
		t.Errorf("Len after eviction = %d, want 2", got)
	}
	// Key 2 was not idle, so it kept its state through the sweep: of its
	// 2 tokens, 2 were spent by 0.5s and 1 refilled by 1s.
	if got := drain(t, tb, 2, l, int64(time.Second)); got != 1 {
		t.Errorf("key 2 after sweep: admitted %d, want 1", got)
	}
}

func TestManyKeysBounded(t *testing.T) {
	t.Parallel()
	l := NewLimit(1, time.Second, 1)
	tb := NewTable(Config{MaxKeys: 1000, Shards: 8})
	now := int64(0)
	for k := uint64(0); k < 100_000; k++ {
		tb.AllowAt(k, l, now)
		now += int64(time.Millisecond)
	}
	if got := tb.Len(); got > 1000 {
		t.Errorf("Len = %d, want <= MaxKeys 1000", got)
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	l := NewLimit(100, time.Second, 10)
	run := func(noisy bool) []bool {
		tb := NewTable(Config{})
		c := NewConcurrency(ConcurrencyConfig{})
		var got []bool
		for i := int64(0); i < 1000; i++ {
			now := i * int64(time.Millisecond)
			if noisy {
				for j := 0; j < 50; j++ {
					tb.AllowAt(1, l, now)
					c.Acquire(1, 4, 0, 0, 0)
				}
			}
			got = append(got, tb.AllowAt(2, l, now).OK && c.Acquire(2, 4, 0, 0, 0))
			if i%3 == 0 {
				c.Release(2)
			}
		}
		return got
	}
	alone, shared := run(false), run(true)
	for i := range alone {
		if alone[i] != shared[i] {
			t.Fatalf("tenant 2 take %d: admitted %v with a noisy neighbour, %v alone", i, shared[i], alone[i])
		}
	}
}

func TestConcurrentEvictionNeverAdmitsExtra(t *testing.T) {
	t.Parallel()
	// A tiny table churned by many keys, evicting and re-inserting
	// constantly, while one watched key is taken concurrently.
	l := NewLimit(1000, time.Second, 5) // 1ms per token
	tb := NewTable(Config{MaxKeys: 8, Shards: 2})
	const steps = 2000
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); i < steps; i++ {
				now := i * int64(100*time.Microsecond)
				if tb.AllowAt(1, l, now).OK {
					admitted.Add(1)
				}
				tb.AllowAt(uint64(g*steps)+uint64(i)+2, l, now)
			}
		}()
	}
	wg.Wait()
	maxNow := (steps - 1) * int64(100*time.Microsecond)
	if got, bound := admitted.Load(), 5+floorRate(1000, time.Second, maxNow); got > bound {
		t.Errorf("watched key admitted %d, bound %d", got, bound)
	}
}
