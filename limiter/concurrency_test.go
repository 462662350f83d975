package limiter

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestConcurrencyAcquireRelease(t *testing.T) {
	t.Parallel()
	c := NewConcurrency(ConcurrencyConfig{})
	for i := 0; i < 3; i++ {
		if !c.Acquire(1, 3, 0, 0, 0) {
			t.Fatalf("acquire %d under cap 3 failed", i)
		}
	}
	if c.Acquire(1, 3, 0, 0, 0) {
		t.Error("acquire above cap 3 succeeded with queue 0")
	}
	if c.Acquire(1, 0, 0, 0, 0) {
		t.Error("acquire with cap 0 succeeded")
	}
	if got := c.InFlight(1); got != 3 {
		t.Errorf("InFlight = %d, want 3", got)
	}
	for i := 0; i < 3; i++ {
		c.Release(1)
	}
	c.Release(1) // unmatched: ignored
	if got := c.InFlight(1); got != 0 {
		t.Errorf("InFlight after release = %d, want 0", got)
	}
	if got := c.busy(t); got != 0 {
		t.Errorf("busy keys after release = %d, want 0", got)
	}
}

// busy counts the keys with a slot held or a caller waiting, and checks
// each shard's count of idle keys (test helper).
func (c *Concurrency) busy(t *testing.T) int {
	t.Helper()
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		idle := 0
		for _, h := range s.inflight {
			if h.n == 0 {
				idle++
			}
		}
		if idle != s.idle {
			t.Errorf("shard %d: %d idle keys, counted %d", i, idle, s.idle)
		}
		n += len(s.inflight) - idle + len(s.waiting)
		s.mu.Unlock()
	}
	return n
}

func TestConcurrencyPanicDoesNotLeak(t *testing.T) {
	t.Parallel()
	c := NewConcurrency(ConcurrencyConfig{})
	handler := func() {
		if !c.Acquire(7, 1, 0, 0, 0) {
			t.Fatal("acquire failed")
		}
		defer c.Release(7)
		panic("handler bug")
	}
	for i := 0; i < 3; i++ {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			handler()
		}()
	}
	if got := c.InFlight(7); got != 0 {
		t.Errorf("InFlight after panics = %d, want 0", got)
	}
}

func TestConcurrencyQueueFIFO(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := NewConcurrency(ConcurrencyConfig{})
		if !c.Acquire(1, 1, 0, 0, 0) {
			t.Fatal("first acquire failed")
		}
		var order []int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := 0; i < 3; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if !c.Acquire(1, 1, 0, 3, time.Minute) {
					t.Errorf("waiter %d timed out", i)
					return
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				c.Release(1)
			}()
			synctest.Wait() // waiter i is queued before i+1 starts
		}
		if c.Acquire(1, 1, 0, 3, time.Minute) {
			t.Error("acquire with a full queue succeeded")
		}
		c.Release(1)
		wg.Wait()
		if got, want := fmt.Sprint(order), "[0 1 2]"; got != want {
			t.Errorf("wake order = %s, want FIFO %s", got, want)
		}
		if got := c.busy(t); got != 0 {
			t.Errorf("busy keys after drain = %d, want 0", got)
		}
	})
}

// waiting returns the queue length of key (test helper).
func (c *Concurrency) waiting(key uint64) int {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiting[key])
}

func TestConcurrencyTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := NewConcurrency(ConcurrencyConfig{})
		c.Acquire(1, 1, 0, 0, 0)
		start := time.Now()
		if c.Acquire(1, 1, 0, 5, 10*time.Millisecond) {
			t.Error("waiter acquired while the slot was held")
		}
		if got := time.Since(start); got != 10*time.Millisecond {
			t.Errorf("waited %v, want 10ms", got)
		}
		if got := c.waiting(1); got != 0 {
			t.Errorf("queue after timeout = %d, want 0", got)
		}
		c.Release(1)
		if got := c.busy(t); got != 0 {
			t.Errorf("busy keys = %d, want 0", got)
		}
	})
}

func TestConcurrencyBurstWaitsOthersUntouched(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := NewConcurrency(ConcurrencyConfig{})
		const tenant, other = 1, 2
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if c.Acquire(tenant, 2, 0, 20, time.Minute) {
					admitted.Add(1)
					time.Sleep(time.Millisecond) // the request's work, on the fake clock
					c.Release(tenant)
				}
			}()
		}
		synctest.Wait()
		if got := c.waiting(tenant); got != 18 {
			t.Errorf("tenant queue = %d, want 18", got)
		}
		// While tenant 1's burst queues, tenant 2 gets its whole cap at once.
		for i := 0; i < 2; i++ {
			if !c.Acquire(other, 2, 0, 0, 0) {
				t.Errorf("other tenant acquire %d failed during a burst", i)
			}
		}
		wg.Wait()
		if got := admitted.Load(); got != 20 {
			t.Errorf("burst admitted %d, want all 20 after waiting", got)
		}
		if got := c.InFlight(other); got != 2 {
			t.Errorf("other tenant InFlight = %d, want 2", got)
		}
	})
}

func TestConcurrencyFullFailsClosed(t *testing.T) {
	t.Parallel()
	c := NewConcurrency(ConcurrencyConfig{MaxKeys: 64}) // one key per shard
	var held []uint64
	for k := uint64(0); len(held) < 64*4; k++ {
		if c.Acquire(k, 1, 0, 0, 0) {
			held = append(held, k)
		} else {
			break
		}
	}
	if len(held) > 64 {
		t.Fatalf("held %d keys, want <= MaxKeys 64", len(held))
	}
	// The next key lands in a full shard: denied, and admitted after the
	// key holding that shard releases.
	k := held[len(held)-1] + 1
	for c.Acquire(k, 1, 0, 0, 0) {
		c.Release(k)
		k++
	}
	s := c.shard(k)
	for _, h := range held {
		if c.shard(h) == s {
			c.Release(h)
		}
	}
	if !c.Acquire(k, 1, 0, 0, 0) {
		t.Error("acquire denied after its shard emptied")
	}
}

// A Release above a cap lowered since the waiters queued frees its slot
// instead of handing it on, so the count in flight comes down to the new
// cap while the queue stays busy (TestLoweredConcurrencyCapHoldsWithQueue
// in dataplane shows it over HTTP).
func TestConcurrencyLoweredCapNotHandedOn(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := NewConcurrency(ConcurrencyConfig{})
		for range 2 {
			if !c.Acquire(1, 2, 0, 4, time.Minute) {
				t.Fatal("acquire under cap 2 failed")
			}
		}
		got := make(chan bool, 1)
		go func() { got <- c.Acquire(1, 2, 0, 4, time.Minute) }()
		synctest.Wait() // queued under cap 2
		go func() { got <- c.Acquire(1, 1, 0, 4, time.Minute) }()
		synctest.Wait() // queued under the lowered cap 1
		c.Release(1)
		synctest.Wait()
		if n := c.InFlight(1); n != 1 || len(got) != 0 {
			t.Fatalf("after a Release with 2 in flight over the lowered cap 1: %d in flight, %d waiters admitted; want 1 and 0", n, len(got))
		}
		c.Release(1)
		if !<-got {
			t.Fatal("the first waiter was not handed the slot freed within the cap")
		}
		if n := c.InFlight(1); n != 1 {
			t.Errorf("in flight after the hand-off: %d, want the cap of 1", n)
		}
		c.Release(1)
		if !<-got {
			t.Fatal("the second waiter was not handed the slot")
		}
		c.Release(1)
		if n := c.busy(t); n != 0 {
			t.Errorf("busy keys after drain = %d, want 0", n)
		}
	})
}

// A raised cap is used at once: an Acquire that finds slots free under
// its cap hands them to the waiters first (first come first served) and
// takes one itself if any is left, where it queued behind them and the
// count in flight stayed at the old cap while the queue was busy
// (TestRaisedConcurrencyCapAdmitsTheQueue in dataplane shows it over HTTP).
func TestConcurrencyRaisedCapAdmitsWaiters(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := NewConcurrency(ConcurrencyConfig{})
		if !c.Acquire(1, 1, 0, 2, time.Minute) {
			t.Fatal("acquire under cap 1 failed")
		}
		got := make(chan bool, 2)
		for range 2 {
			go func() { got <- c.Acquire(1, 1, 0, 2, time.Minute) }()
		}
		synctest.Wait() // both queued under cap 1
		if !c.Acquire(1, 4, 0, 2, 0) {
			t.Fatal("acquire with 1 in flight under the raised cap 4 failed")
		}
		synctest.Wait()
		if len(got) != 2 || !<-got || !<-got {
			t.Fatalf("the two waiters were not admitted under the raised cap 4 (%d answered)", len(got))
		}
		if n := c.InFlight(1); n != 4 {
			t.Fatalf("in flight under the raised cap 4: %d, want 4", n)
		}
		if c.Acquire(1, 4, 0, 0, 0) {
			t.Error("acquire past the raised cap 4 succeeded with queue 0")
		}
		for range 4 {
			c.Release(1)
		}
		if n := c.busy(t); n != 0 {
			t.Errorf("busy keys after drain = %d, want 0", n)
		}
	})
}

// A Release under a cap raised since the waiters queued hands every slot
// the cap now allows to the waiters, not only its own.
func TestConcurrencyRaisedCapReleaseAdmitsWaiters(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := NewConcurrency(ConcurrencyConfig{})
		if !c.Acquire(1, 1, 0, 4, time.Minute) {
			t.Fatal("acquire under cap 1 failed")
		}
		got := make(chan bool, 3)
		for range 2 {
			go func() { got <- c.Acquire(1, 1, 0, 4, time.Minute) }()
		}
		synctest.Wait()
		go func() { got <- c.Acquire(1, 3, 0, 4, time.Minute) }() // the cap raised to 3
		synctest.Wait()
		c.Release(1)
		synctest.Wait()
		if len(got) != 3 {
			t.Fatalf("after a Release under the raised cap 3: %d of 3 waiters admitted, want 3", len(got))
		}
		if n := c.InFlight(1); n != 3 {
			t.Fatalf("in flight: %d, want 3", n)
		}
		for range 3 {
			c.Release(1)
		}
		if n := c.busy(t); n != 0 {
			t.Errorf("busy keys after drain = %d, want 0", n)
		}
	})
}

// Queued counts the callers waiting, over all keys, as they join a queue
// and as they leave it: handed a slot by a Release, by an Acquire under a
// raised cap, or timed out.
func TestConcurrencyQueuedCounts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := NewConcurrency(ConcurrencyConfig{})
		want := func(n int, when string) {
			t.Helper()
			if got := c.Queued(); got != n {
				t.Errorf("%s: Queued = %d, want %d", when, got, n)
			}
		}
		want(0, "empty")
		c.Acquire(1, 1, 0, 0, 0)
		c.Acquire(2, 1, 0, 0, 0)
		want(0, "two keys at their caps, none waiting")
		got := make(chan bool, 4)
		for range 2 {
			go func() { got <- c.Acquire(1, 1, 0, 4, time.Minute) }()
		}
		go func() { got <- c.Acquire(2, 1, 0, 4, time.Minute) }()
		go func() { got <- c.Acquire(2, 1, 0, 4, time.Second) }()
		synctest.Wait()
		want(4, "two waiting on each key")
		time.Sleep(time.Second) // the fake clock: the second waiter of key 2 times out
		synctest.Wait()
		want(3, "after a wait timed out")
		c.Release(1)
		synctest.Wait()
		want(2, "after a Release handed key 1's slot on")
		c.Acquire(1, 3, 0, 4, 0) // key 1's cap raised to 3: its last waiter and this one get in
		synctest.Wait()
		want(1, "after a raised cap admitted key 1's queue")
		c.Release(2)
		synctest.Wait()
		want(0, "after key 2's waiter was handed its slot")
	})
}

// An Acquire with a cap older than the key's (a request still holding the
// policy before a push) is judged under the newer cap and leaves it in
// force: the waiters are not admitted under the old cap, nor are later
// slots handed on under it.
func TestConcurrencyStaleCapIgnored(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := NewConcurrency(ConcurrencyConfig{})
		const before, after = 100, 200 // the caps' since: the push lowered 4 to 1
		if !c.Acquire(1, 1, after, 0, 0) {
			t.Fatal("acquire under the new cap 1 failed")
		}
		got := make(chan bool, 2)
		go func() { got <- c.Acquire(1, 1, after, 4, time.Minute) }()
		synctest.Wait()
		stale := c.Acquire(1, 4, before, 0, 0)
		synctest.Wait()
		if n := c.InFlight(1); stale || n != 1 || len(got) != 0 {
			t.Fatalf("an Acquire under the old cap 4 after the push to 1: admitted %v, %d in flight, %d waiters admitted; want false, 1 and 0", stale, n, len(got))
		}
		go func() { got <- c.Acquire(1, 4, before, 4, time.Minute) }() // stale, and queued
		synctest.Wait()
		c.Release(1)
		synctest.Wait()
		if n := c.InFlight(1); n != 1 || len(got) != 1 {
			t.Fatalf("a Release with a stale request queued: %d in flight, %d waiters admitted; want 1 and 1 (the new cap of 1)", n, len(got))
		}
		c.Release(1)
		synctest.Wait()
		c.Release(1)
		if len(got) != 2 || !<-got || !<-got {
			t.Fatal("the waiters were not admitted one at a time")
		}
		if n := c.busy(t); n != 0 {
			t.Errorf("busy keys after drain = %d, want 0", n)
		}
	})
}

// A key with nothing in flight keeps the newest cap it was acquired
// under: Acquires with an older cap (requests still holding the policy
// before a push, which reached step 6 after a request under the new
// policy had come and gone) are judged under the newer cap. A key kept no
// cap once its last slot was released, so the first stale Acquire set the
// old one back and the stale requests after it were admitted up to it.
func TestConcurrencyIdleKeyKeepsNewestCap(t *testing.T) {
	t.Parallel()
	c := NewConcurrency(ConcurrencyConfig{})
	const before, after = 100, 200 // the caps' since: the push lowered 4 to 1
	if !c.Acquire(1, 1, after, 0, 0) {
		t.Fatal("acquire under the new cap 1 failed")
	}
	c.Release(1) // the key is idle
	if !c.Acquire(1, 4, before, 0, 0) {
		t.Fatal("a stale Acquire on an idle key was refused")
	}
	if c.Acquire(1, 4, before, 0, 0) {
		t.Fatal("a second stale Acquire under the old cap 4, with 1 in flight after the push to 1: admitted, want refused")
	}
	c.Release(1)
	// A raised cap holds the same way: a stale Acquire under the old,
	// lower cap does not refuse what the newer cap admits.
	const raised = 300
	c.Acquire(2, 3, raised, 0, 0)
	c.Release(2)
	for i := range 3 {
		if !c.Acquire(2, 1, before, 0, 0) {
			t.Fatalf("stale Acquire %d under the old cap 1, after the push raised it to 3: refused, want admitted", i+1)
		}
	}
}

// Idle keys are kept within MaxKeys: a new key in a full shard has its
// idle keys forgotten, and is refused only when none is idle.
func TestConcurrencyIdleKeysForgottenWhenFull(t *testing.T) {
	t.Parallel()
	c := NewConcurrency(ConcurrencyConfig{MaxKeys: 2 * concShards}) // two keys per shard
	var same []uint64                                               // keys of key 1's shard
	for k := uint64(1); len(same) < 4; k++ {
		if c.shard(k) == c.shard(1) {
			same = append(same, k)
		}
	}
	a, b, d, e := same[0], same[1], same[2], same[3]
	c.Acquire(a, 1, 200, 0, 0)
	c.Release(a) // idle, its cap kept
	if !c.Acquire(b, 1, 0, 0, 0) {
		t.Fatal("a second key in a shard of two was refused")
	}
	if !c.Acquire(d, 1, 0, 0, 0) {
		t.Fatal("a new key in a full shard with an idle key was refused, want the idle key forgotten")
	}
	s := c.shard(a)
	if _, kept := s.inflight[a]; kept || len(s.inflight) != 2 {
		t.Fatalf("after the new key: idle key kept %v, %d keys in the shard; want forgotten and 2", kept, len(s.inflight))
	}
	if c.Acquire(e, 1, 0, 0, 0) {
		t.Error("a new key in a full shard with no idle key was admitted, want refused")
	}
	c.Release(b)
	c.Release(d)
	if n := c.busy(t); n != 0 {
		t.Errorf("busy keys after drain = %d, want 0", n)
	}
}
