package dataplane

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The pool's slots: a free slot is taken at once; at the cap a taker waits
// and gets the slot given back, oldest waiter first; one that waits out
// its time gets ErrNoFreeConns and leaves the queue, so the next slot
// given goes to the free count, not to it.
func TestSlotsHandOverInOrder(t *testing.T) {
	t.Parallel()
	s := newSlots(1)
	if err := s.take(0); err != nil {
		t.Fatalf("a free slot: %v", err)
	}
	if err := s.take(time.Millisecond); err != fasthttp.ErrNoFreeConns {
		t.Fatalf("at the cap, after its wait: %v, want ErrNoFreeConns", err)
	}
	order := make(chan int, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.take(time.Minute); err != nil {
				t.Errorf("waiter %d: %v", i, err)
				return
			}
			order <- i
		}()
		for queued := false; !queued; { // the waiters queue in the order started
			s.mu.Lock()
			queued = len(s.waiting) == i+1
			s.mu.Unlock()
		}
	}
	s.give()
	if got := <-order; got != 0 {
		t.Fatalf("the first slot given went to waiter %d, want 0", got)
	}
	s.give()
	wg.Wait()
	if got := <-order; got != 1 {
		t.Fatalf("the second went to waiter %d, want 1", got)
	}
	s.give()
	s.mu.Lock()
	free, waiting := s.free, len(s.waiting)
	s.mu.Unlock()
	if free != 1 || waiting != 0 {
		t.Fatalf("after every slot came back: %d free, %d waiting; want 1 and 0 (the timed-out taker left the queue)", free, waiting)
	}
}

// Many takers with short waits on few slots: never more than the cap held
// at once, and every slot back once all are done, whether a taker got its
// slot at once, after a wait, or as its timer fired.
func TestSlotsNeverOverCap(t *testing.T) {
	t.Parallel()
	const limit = 3
	s := newSlots(limit)
	var held, most atomic.Int64
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 300 {
				if s.take(time.Duration(i+j)%5*time.Microsecond) != nil {
					continue
				}
				n := held.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				held.Add(-1)
				s.give()
			}
		}()
	}
	wg.Wait()
	if m := most.Load(); m > limit {
		t.Fatalf("%d slots held at once, cap %d", m, limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.free != limit || len(s.waiting) != 0 {
		t.Fatalf("after all: %d free, %d waiting; want %d and 0", s.free, len(s.waiting), limit)
	}
}
