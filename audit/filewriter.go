package audit

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// FileConfig configures a FileWriter. The zero value is usable.
type FileConfig struct {
	// Slots is how many records may wait to be written (rounded up to a
	// power of two); 0 means DefaultSlots. Emit fails when all are in use.
	Slots int
	// FlushInterval bounds how long a captured record waits before it is
	// written to the file; 0 means 100ms.
	FlushInterval time.Duration
	// Sync makes every flush fsync the file.
	Sync bool
}

// DefaultSlots is the number of Record slots of a FileWriter or an Emitter
// when its config leaves Slots at 0: up to 4096 records of 696 bytes, 2.8
// MiB, in flight. Records are allocated as they are first needed and then
// go round (ring.go), so a load that keeps up holds some 512 of them. The
// slots only have to hold what arrives while the drain goroutine is not
// draining. It is woken every 512 records (the Emitter's batch; the
// FileWriter's fileWakeAt), and empties the ring at 1.2M (OTLP) to 2.2M (JSON) records
// per second per core (BenchmarkAuditEncode), some 25 to 45 times the
// 50,000 requests per second a sidecar core can serve; 4096 slots are 80 ms
// of requests at that rate, to cover the drain goroutine waiting for the
// core or a write (the Emitter spools with an fsync when its sender is
// behind). 16384 (Emitter) and 8192 (FileWriter) slots cost 11.1 and
// 5.6 MiB and, through the garbage collector's goal, about twice that in
// peak RSS (issue 18; README, Measured figures). A record that finds the
// ring full is refused and counted, as before, never lost silently.
const DefaultSlots = 4096

// fileWakeAt is how many waiting records wake a FileWriter's goroutine (or
// half its slots, if fewer). Every record in flight is one the ring holds
// in memory: at half of 4096 slots, 2049 records (1.4 MB) were touched
// under a steady load. 512 records still go out in writes of 60 KiB, and
// at 50,000 records per second wake the writer 100 times a second.
const fileWakeAt = 512

// FileStats are a FileWriter's counters.
type FileStats struct {
	Captured    uint64 // records Emit accepted
	Written     uint64 // records written to the file
	Dropped     uint64 // records Emit refused (slots full or closed)
	WriteErrors uint64 // failed writes; the records in them are lost
}

// FileWriter writes audit records as JSON lines, one record per line, to a
// file. Emit copies the record into a slot of a bounded ring and returns at once;
// a background goroutine encodes and writes. It is safe for concurrent use.
type FileWriter struct {
	q        *ring
	f        *os.File
	cfg      FileConfig
	wake     chan struct{}
	done     chan struct{}
	stopped  chan struct{}
	closed   atomic.Bool
	healthy  atomic.Bool
	dropped  atomic.Uint64
	written  atomic.Uint64
	werrs    atomic.Uint64
	wakeAt   uint64
	closeErr error
	once     sync.Once
}

// NewFileWriter opens (appending, creating with mode 0600) the file at path
// and starts the writer goroutine.
func NewFileWriter(path string, cfg FileConfig) (*FileWriter, error) {
	if cfg.Slots == 0 {
		cfg.Slots = DefaultSlots
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 100 * time.Millisecond
	}
	q, err := newRing(cfg.Slots)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: cannot open audit file %q: %w", path, err)
	}
	w := &FileWriter{q: q, f: f, cfg: cfg, wake: make(chan struct{}, 1),
		done: make(chan struct{}), stopped: make(chan struct{}), wakeAt: min(q.mask/2+1, fileWakeAt)}
	w.healthy.Store(true)
	go w.run()
	return w, nil
}

// Emit copies *r into a free slot. It never blocks, allocates only when
// more records are in flight than before (ring.go), and returns false when
// the record could not be captured.
func (w *FileWriter) Emit(r *Record) bool {
	return w.captured(w.q.push(r))
}

// Swap is Emit without the copy, as Emitter.Swap: it keeps r and returns
// the record the caller fills next, or r and false when r was not captured.
func (w *FileWriter) Swap(r *Record) (*Record, bool) {
	spare, ok := w.q.swap(r)
	if !w.captured(ok) {
		return r, false
	}
	return spare, true
}

// captured counts a push that failed, or wakes the writer when enough
// records wait.
func (w *FileWriter) captured(ok bool) bool {
	if !ok {
		w.dropped.Add(1)
		return false
	}
	if w.q.len() == w.wakeAt {
		wakeup(w.wake)
	}
	return true
}

// wakeup signals c without blocking.
func wakeup(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Accepting reports whether a record emitted now would be captured and the
// last write succeeded.
func (w *FileWriter) Accepting() bool {
	return !w.closed.Load() && w.healthy.Load() && !w.q.full()
}

// Stats returns the counters.
func (w *FileWriter) Stats() FileStats {
	return FileStats{Captured: w.q.pushed(), Written: w.written.Load(),
		Dropped: w.dropped.Load(), WriteErrors: w.werrs.Load()}
}

// Close writes every captured record, then closes the file. Emit calls that
// race Close are either written or refused, never lost silently.
func (w *FileWriter) Close() error {
	w.once.Do(func() {
		w.closed.Store(true)
		close(w.done)
		<-w.stopped
		if err := w.f.Close(); err != nil && w.closeErr == nil {
			w.closeErr = fmt.Errorf("audit: cannot close audit file %q: %w", w.f.Name(), err)
		}
	})
	return w.closeErr
}

func (w *FileWriter) run() {
	defer close(w.stopped)
	buf := make([]byte, 0, 64<<10)
	t := time.NewTicker(w.cfg.FlushInterval)
	defer t.Stop()
	for {
		buf = w.drain(buf)
		select {
		case <-w.wake:
		case <-t.C:
		case <-w.done:
			for !w.q.seal() {
				buf = w.drain(buf)
			}
			w.drain(buf)
			return
		}
	}
}

// drain encodes every ready record and writes them out.
func (w *FileWriter) drain(buf []byte) []byte {
	n := uint64(0)
	for r := w.q.peek(); r != nil; r = w.q.peek() {
		buf = append(r.AppendJSON(buf), '\n')
		w.q.release()
		n++
		if len(buf) >= 60<<10 {
			w.write(buf, n)
			buf, n = buf[:0], 0
		}
	}
	if len(buf) > 0 {
		w.write(buf, n)
	}
	return buf[:0]
}

func (w *FileWriter) write(buf []byte, n uint64) {
	_, err := w.f.Write(buf)
	if err == nil && w.cfg.Sync {
		err = w.f.Sync()
	}
	if err != nil {
		w.werrs.Add(1)
		w.healthy.Store(false)
		if w.closeErr == nil {
			w.closeErr = fmt.Errorf("audit: cannot write audit file %q: %w", w.f.Name(), err)
		}
		return
	}
	w.healthy.Store(true)
	w.written.Add(n)
}
