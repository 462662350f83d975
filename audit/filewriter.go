package audit

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/internal/durable"
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
	// Log receives a line when writes start failing and when they work
	// again; nil logs nothing. It is written from the FileWriter's own
	// goroutine, outside any recover: its writer must not panic (the
	// sidecar's writes to stderr, an *os.File, which returns errors).
	Log *zerolog.Logger
}

// DefaultSlots is the number of Record slots of a FileWriter or an Emitter
// when its config leaves Slots at 0: up to 4096 records of 696 bytes, 2.8
// MiB, in flight. Records are allocated as they are first needed and then
// go round (ring.go), so a load that keeps up holds some 512 of them (a
// FileWriter's) or some 64 (an Emitter's). The slots only have to hold what
// arrives while the drain goroutine is not draining. It is woken every 64
// records (the Emitter's emitterWakeAt) or 512 (the FileWriter's
// fileWakeAt), and empties the ring at 1.2M (OTLP) to 2.2M (JSON) records
// per second per core (BenchmarkAuditEncode), some 25 to 45 times the
// 50,000 requests per second a sidecar core can serve; 4096 slots are 80 ms
// of requests at that rate, to cover the drain goroutine waiting for the
// core or a write (the Emitter spools with an fsync when its sender is
// behind). 16384 (Emitter) and 8192 (FileWriter) slots cost 11.1 and
// 5.6 MiB and, through the garbage collector's goal, about twice that in
// peak RSS (issue 18; docs/performance.md). A record that finds the
// ring full is refused and counted, as before, never lost silently.
const DefaultSlots = 4096

// fileWakeAt is how many waiting records wake a FileWriter's goroutine (or
// half its slots, if fewer). Every record in flight is one the ring holds
// in memory: at half of 4096 slots, 2049 records (1.4 MB) were touched
// under a steady load. 512 records still go out in writes of 60 KiB, and
// at 50,000 records per second wake the writer 100 times a second.
const fileWakeAt = 512

// FileStats are a FileWriter's counters. After Close, every captured
// record is in exactly one of Written or Lost.
type FileStats struct {
	Captured    uint64 // records Emit accepted
	Written     uint64 // records written to the file
	Dropped     uint64 // records Emit refused (slots full or closed)
	WriteErrors uint64 // failed writes; their records wait and are written again
	Lost        uint64 // records captured but never written: the file still failed at Close
}

// FileWriter writes audit records as JSON lines, one record per line, to a
// file. Emit copies the record into a slot of a bounded ring and returns at once;
// a background goroutine encodes and writes. It is safe for concurrent use.
//
// A write that fails (a full disk) loses nothing silently: the part of a
// line it wrote is cut from the file, the records it did not write wait
// in memory and are written first when the file takes writes again, and
// until then the ring is not drained, so it fills and Emit refuses and
// counts (the data plane's portcullis_audit_dropped_total) and Accepting
// is false (strict audit mode answers 503). What still cannot be written
// at Close is counted in Lost.
type FileWriter struct {
	q        *ring
	f        *os.File
	cfg      FileConfig
	log      zerolog.Logger
	wake     chan struct{}
	done     chan struct{}
	stopped  chan struct{}
	closed   atomic.Bool
	healthy  atomic.Bool
	dropped  atomic.Uint64
	written  atomic.Uint64
	werrs    atomic.Uint64
	lost     atomic.Uint64
	wakeAt   uint64
	closeErr error // for Close: a failed sync, an uncut torn line, lost records
	lastErr  error // the last failed write or sync
	once     sync.Once

	// writer goroutine state
	pending  []byte // encoded records a failed write left, to write first
	pendingN uint64 // records in pending
	torn     bool   // a torn line could not be cut: start the next write on a new line
}

// NewFileWriter opens (appending, creating with mode 0600) the file at path,
// which must be a regular file (a FIFO is refused, not waited on), and
// starts the writer goroutine.
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
	f, err := durable.OpenRegular(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: cannot open audit file %q: %w", path, err)
	}
	w := &FileWriter{q: q, f: f, cfg: cfg, wake: make(chan struct{}, 1), log: zerolog.Nop(),
		done: make(chan struct{}), stopped: make(chan struct{}), wakeAt: min(q.mask/2+1, fileWakeAt)}
	if cfg.Log != nil {
		w.log = *cfg.Log
	}
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

// Failing reports whether the last write to the file failed: records
// wait in memory until it takes writes again.
func (w *FileWriter) Failing() bool { return !w.healthy.Load() }

// Stats returns the counters.
func (w *FileWriter) Stats() FileStats {
	return FileStats{Captured: w.q.pushed(), Written: w.written.Load(),
		Dropped: w.dropped.Load(), WriteErrors: w.werrs.Load(), Lost: w.lost.Load()}
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
				if w.pendingN > 0 {
					// The file still takes no writes and the drain left
					// the ring as it was: a full ring is never sealed.
					w.loseReady()
				}
			}
			w.drain(buf)
			w.loseRest()
			if n := w.lost.Load(); n > 0 && w.closeErr == nil {
				w.closeErr = fmt.Errorf("%d audit records lost: %w", n, w.lastErr)
			}
			return
		}
	}
}

// loseRest counts what Close leaves unwritten: the pending records and,
// when they could not be written, every record still in the ring (sealed,
// so no more arrive).
func (w *FileWriter) loseRest() {
	if w.pendingN == 0 {
		return
	}
	w.loseReady()
	n := w.pendingN
	w.pending, w.pendingN = w.pending[:0], 0
	w.lost.Add(n)
	w.log.Error().Uint64("records", w.lost.Load()).Str("file", w.f.Name()).Msg("audit records lost at close: the audit file takes no writes")
}

// loseReady counts every record ready in the ring lost and frees its
// slot: at Close, with the file failing, so that the ring can be sealed.
func (w *FileWriter) loseReady() {
	n := uint64(0)
	for r := w.q.peek(); r != nil; r = w.q.peek() {
		w.q.release()
		n++
	}
	w.lost.Add(n)
}

// drain encodes every ready record and writes them out, after what an
// earlier failed write left. While that cannot be written, the records
// stay in the ring.
func (w *FileWriter) drain(buf []byte) []byte {
	if w.pendingN > 0 && !w.put(w.pending, w.pendingN) {
		return buf
	}
	n := uint64(0)
	for r := w.q.peek(); r != nil; r = w.q.peek() {
		buf = append(r.AppendJSON(buf), '\n')
		w.q.release()
		n++
		if len(buf) >= 60<<10 {
			if !w.put(buf, n) {
				return buf[:0]
			}
			buf, n = buf[:0], 0
		}
	}
	if len(buf) > 0 {
		w.put(buf, n)
	}
	return buf[:0]
}

// put writes data, n whole records, and reports whether all of it was
// written. On a failure it keeps the records written whole, cuts the torn
// rest of a line from the file and keeps the records not written in
// pending (data may be pending itself).
func (w *FileWriter) put(data []byte, n uint64) bool {
	if durable.Unlinked(w.f) && !w.reopen() {
		w.keep(data, 0, n, w.lastErr)
		return false
	}
	if w.torn {
		if _, err := w.f.Write([]byte{'\n'}); err != nil {
			w.keep(data, 0, n, err)
			return false
		}
		w.torn = false
	}
	done, err := w.f.Write(data)
	if err != nil {
		whole := bytes.LastIndexByte(data[:done], '\n') + 1
		w.keep(data, whole, n, err)
		w.cutTorn(done - whole)
		return false
	}
	w.pending, w.pendingN = w.pending[:0], 0
	w.written.Add(n)
	if w.cfg.Sync {
		if err := w.f.Sync(); err != nil {
			w.failed(err) // the records are in the file; writing them again would double them
			w.keepErr()   // but may not be on the disk: a later sync does not say they are
			return true
		}
	}
	if !w.healthy.Swap(true) {
		w.log.Info().Str("file", w.f.Name()).Msg("audit file takes writes again")
	}
	return true
}

// reopen makes the audit file again at its path when the one open was
// deleted (rm, or a rotation that removes rather than truncates): the
// records written to it went with it, and every later one went to a file
// nothing could read, counted written, while /readyz said "ok, writing"
// (TestFileWriterDeletedFileMadeAgain). It reports whether a file is open
// at the path now.
func (w *FileWriter) reopen() bool {
	name := w.f.Name()
	f, err := durable.OpenRegular(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		w.lastErr = fmt.Errorf("audit: the audit file %q was deleted and cannot be made again: %w", name, err)
		return false
	}
	w.f.Close()
	w.f, w.torn = f, false
	w.log.Warn().Str("file", name).Uint64("written_before", w.written.Load()).
		Msg("audit file was deleted while open: made it again; the records written before went with the deleted file (rotate by copy and truncate)")
	return true
}

// keep records a failed write of data (n records) whose first whole bytes
// reached the file: those records count as written, the others wait in
// pending.
func (w *FileWriter) keep(data []byte, whole int, n uint64, err error) {
	lines := uint64(bytes.Count(data[:whole], []byte{'\n'}))
	w.written.Add(lines)
	w.pending = append(w.pending[:0], data[whole:]...) // copy: may overlap when data is pending
	w.pendingN = n - lines
	w.failed(err)
}

// cutTorn removes the last n bytes of the file, the part of a line a
// failed write left; when it cannot, the next write starts a new line.
func (w *FileWriter) cutTorn(n int) {
	if n == 0 {
		return
	}
	info, err := w.f.Stat()
	if err == nil {
		err = w.f.Truncate(info.Size() - int64(n))
	}
	if err != nil {
		w.torn = true
		w.keepErr() // the torn part stays in the file, a line that is no record
	}
}

// keepErr keeps the last failure for Close, unless an earlier one is
// kept: a failed write whose records were written later is none of
// Close's (a sidecar that recovered from a full disk stopped with it and
// exit 1), a failed sync or a torn line left in the file is.
func (w *FileWriter) keepErr() {
	if w.closeErr == nil {
		w.closeErr = w.lastErr
	}
}

// failed counts a failed write or sync, keeps its error for keepErr and
// Close and logs when the file stops taking writes.
func (w *FileWriter) failed(err error) {
	// Unhealthy before counted: whoever sees the failure in Stats sees
	// Accepting and Failing say so too (they said the file was fine in
	// between, and TestFileWriterDiskFullKeepsRecords failed once in CI).
	wasHealthy := w.healthy.Swap(false)
	w.werrs.Add(1)
	w.lastErr = fmt.Errorf("audit: cannot write audit file %q: %w", w.f.Name(), err)
	if wasHealthy {
		w.log.Error().Err(err).Str("file", w.f.Name()).Uint64("records_waiting", w.pendingN).
			Msg("audit file write failed: records wait in memory and new ones are refused (counted in portcullis_audit_dropped_total; strict mode answers 503) until it takes writes again")
	}
}
