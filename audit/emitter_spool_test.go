package audit

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// While the collector is away the batcher spools; it wrote each batch
// itself, two fsyncs a batch, and the sender wrote the batches queued for
// it holding the lock the batcher takes for every batch. Nothing drained
// the slots meanwhile: on a disk slow to commit, 10-25% of the records
// were refused at 11k requests a second (BenchmarkEmitterSpool). Here the
// disk does not commit at all until the test lets it (every fsync waits):
// the batcher must go on building batches, into the spooler's queue,
// well past what the slots hold, and every record is spooled once the
// disk commits. Not parallel: it replaces fsync.
func TestBatcherDoesNotWaitForTheDisk(t *testing.T) {
	commit := make(chan struct{})
	fsync = func(fd int) error {
		<-commit
		return unix.Fsync(fd)
	}
	defer func() { fsync = unix.Fsync }()
	cfg := fastConfig(deadCollector(t), t.TempDir())
	cfg.Slots, cfg.RetryBudget = 256, time.Millisecond // the first batch is spooled at once
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var once sync.Once
	release := func() { once.Do(func() { close(commit) }) }
	defer release() // before Close, which would wait for the disk
	// 18 batches of 64 records: 1152, 4.5 times the slots. The sender
	// holds the first, the spooler the second and its queue 16 more.
	const batches = 18
	for i := range batches * 64 {
		r := sampleRecord(i)
		waitFor(t, "record "+strconv.Itoa(i+1)+" captured while the disk does not commit", func() bool { return e.Emit(&r) })
		if (i+1)%64 == 0 {
			waitFor(t, "batch "+strconv.Itoa((i+1)/64)+" built while the disk does not commit", func() bool {
				return e.batches.Load() >= uint64((i+1)/64) // not Stats, which waited for the disk
			})
		}
	}
	release()
	waitFor(t, "every record spooled", func() bool { return e.Stats().Spooled == batches*64 })
	if st := e.Stats(); st.Dropped != 0 {
		t.Errorf("%d records dropped, want none: %+v", st.Dropped, st)
	}
}

// dropLog says the first drop at once, then at most one line an interval
// with the count since the line before; nothing without new drops.
func TestDropLogDue(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	d := dropLog{every: 10 * time.Second}
	for _, c := range []struct {
		at          time.Duration
		full, spool uint64
		wantFull    uint64
		wantSpool   uint64
		want        bool
	}{
		{0, 0, 0, 0, 0, false},                                    // nothing dropped
		{time.Second, 3, 0, 3, 0, true},                           // the first drop: at once
		{2 * time.Second, 10, 0, 0, 0, false},                     // within the interval
		{9 * time.Second, 10, 512, 0, 0, false},                   // still within it
		{11 * time.Second, 12, 512, 9, 512, true},                 // the interval is over: all since
		{30 * time.Second, 12, 512, 0, 0, false},                  // no new drop, no line
		{31 * time.Second, 13, 512, 1, 0, true},                   // a new one long after: at once
		{31*time.Second + time.Millisecond, 14, 512, 0, 0, false}, // and the next waits again
	} {
		full, spool, ok := d.due(t0.Add(c.at), c.full, c.spool)
		if ok != c.want || full != c.wantFull || spool != c.wantSpool {
			t.Errorf("at %v with %d/%d dropped: due %d/%d %v, want %d/%d %v", c.at, c.full, c.spool, full, spool, ok, c.wantFull, c.wantSpool, c.want)
		}
	}
}
