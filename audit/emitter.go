package audit

import (
	"cmp"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Mode says what an Emitter does when a batch can be neither delivered nor
// spooled.
type Mode uint8

// Modes.
const (
	// BestEffort drops the batch and counts it.
	BestEffort Mode = iota
	// Strict keeps the batch in memory and reports Accepting false until the
	// spool has room again, so the data plane answers 503 rather than serve
	// unaudited requests.
	Strict
)

// String returns "best_effort" or "strict".
func (m Mode) String() string {
	if m == Strict {
		return "strict"
	}
	return "best_effort"
}

// ParseMode parses "best_effort" or "strict".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "best_effort", "":
		return BestEffort, nil
	case "strict":
		return Strict, nil
	}
	return 0, fmt.Errorf("audit: unknown mode %q (want best_effort or strict)", s)
}

// EmitterConfig configures an Emitter. Only URL is required.
type EmitterConfig struct {
	URL           string        // collector base URL; batches go to URL+"/v1/logs"
	Token         string        // bearer token for the collector; never logged
	SpoolDir      string        // spool directory; "" keeps nothing on disk
	SpoolMaxBytes int64         // spool bound; 0 means 256 MiB
	BatchSize     int           // records per batch; 0 means 512
	FlushInterval time.Duration // longest a record waits for its batch; 0 means 1s
	Mode          Mode
	// Strict, when set, says at each use whether the Emitter is in Strict
	// mode, instead of Mode: the sidecar passes its policy's audit.mode,
	// which a push or reload can change (the mode fixed at start let a
	// policy switched to strict drop records while serving). Strict without
	// a SpoolDir never accepts.
	Strict       func() bool
	Slots        int           // records that may wait to be batched; 0 means DefaultSlots
	TLS          *tls.Config   // collector CA and client certificate for an https URL; nil: system roots
	Service      string        // service.name resource attribute
	Host         string        // host.name; "" means os.Hostname
	InstanceID   string        // service.instance.id and, with a random run id, prefix of batch ids; "" means random
	Pod          string        // k8s.pod.name; "" leaves it out
	Namespace    string        // k8s.namespace.name; "" leaves it out
	LogInterval  time.Duration // at most one log line per failure class per interval; 0 means 1m
	RetryBudget  time.Duration // how long a new batch is retried before it is spooled; 0 means 2s
	CloseTimeout time.Duration // how long Close replays the spool; 0 means 5s
	MinBackoff   time.Duration // first retry delay; 0 means 100ms
	MaxBackoff   time.Duration // retry delay cap; 0 means 30s
	// BatchCapProbe is the least time between two raises of the cap a
	// batch too slow for the link set on new batches (emitter_split.go);
	// 0 means 10s.
	BatchCapProbe time.Duration
	// Log receives the emitter's lines (nil: none). It is written from
	// the emitter's goroutines (batcher, spooler, sender), outside any
	// recover: its writer must not panic (the sidecar's writes to stderr,
	// an *os.File, which returns errors).
	Log *zerolog.Logger
	// DropLogInterval is the least time between two warn lines counting the
	// records dropped since the line before; 0 means DefaultDropLogInterval.
	DropLogInterval time.Duration
	postTimeout     time.Duration // postTimeout when 0; tests set it shorter
}

// EmitterStats are an Emitter's counters. After Close, every captured record
// is in exactly one of Delivered, Spooled, DroppedSpool, Rejected or
// Aggregated, but for spooled records lost afterwards (a file unreadable
// at replay, or gone with a deleted spool directory): those are counted
// in Spooled and again in DroppedSpool. A batch counted lost with a
// deleted spool directory and put back in the directory made again by an
// operator is counted in Restored when the collector acknowledges it, not
// in Replayed, once: put back again (with an older copy of the spool's
// .lost) and answered as a duplicate the collector held before, it counts
// in neither (heldBefore), nor does a spooled batch put back after it
// was replayed; and it counts at most the records the batch lost under
// its sequence held. Spooled is Replayed plus the spooled records dropped and
// rejected plus what the spool holds, and DroppedSpool - Restored were
// lost for good.
type EmitterStats struct {
	Captured     uint64 // records Emit accepted
	Delivered    uint64 // captured records the collector acknowledged directly
	Spooled      uint64 // records written to the spool
	Replayed     uint64 // spooled records (from any run) acknowledged later
	Restored     uint64 // spooled records counted in DroppedSpool (by this run or one before), then put back by hand and acknowledged
	Dropped      uint64 // DroppedFull + DroppedSpool + Rejected
	DroppedFull  uint64 // records Emit refused: all slots busy, or closed
	DroppedSpool uint64 // captured records lost because the spool was full
	Rejected     uint64 // records in batches the collector refused as invalid
	Aggregated   uint64 // captured records folded into another record's Count
	Batches      uint64 // batches built
	Retries      uint64 // failed delivery attempts
	Splits       uint64 // batches cut in two because the link could not carry them in time (emitter_split.go)
	BatchCap     int    // records a new batch holds at most now, below BatchSize after a batch too slow for the link; 0: BatchSize
	SpoolFiles   int    // batches in the spool now
	SpoolRecords int    // records in the spool now
	SpoolBytes   int64  // bytes in the spool now
}

// sendQueue is how many encoded batches may wait for the sender before the
// batcher spools them. A batch waiting here costs memory only while the
// collector is slow (its 512 records take about 170 KiB encoded, half
// their slots), where a spooled one costs the batcher two fsyncs, during
// which nothing drains the slots: with 4 batches a collector that fell
// 2048 records behind sent the sidecar into spooling, and at 25k requests
// a second the bench then overran 4096 slots (issue 18).
const sendQueue = 16

// emitterWakeAt is how many waiting records wake the batcher (or the batch
// size, if fewer). A record waiting in the ring is a Record of about 700
// bytes in memory, besides its encoding once the batcher has drained it
// into the batch buffer: woken at a full batch (512), the sidecar kept
// some 600 Records under the bench load on top of its batch buffers
// (issue 18). The batch still ships at BatchSize records; only the
// draining is more frequent, about 400 wake-ups a second at 25,000
// records a second.
const emitterWakeAt = 64

// outBatch is one encoded batch on its way to the collector.
type outBatch struct {
	seq  uint64
	n    int
	data []byte
}

// Emitter batches audit records and ships them to a collector as OTLP/HTTP
// logs, spooling to disk what the collector cannot take. Emit and Accepting
// are safe for concurrent use; Close once when done.
type Emitter struct {
	cfg     EmitterConfig
	q       *ring
	sp      *spool
	poster  *poster // sender goroutine only
	log     zerolog.Logger
	wake    chan struct{}
	done    chan struct{}
	sendCh  chan *outBatch
	spoolQ  chan *outBatch // batches the batcher spools, for runSpooler
	free    chan *outBatch // spare batch buffers (emitter_spare.go)
	stopped sync.WaitGroup
	once    sync.Once
	wakeAt  uint64
	closed  atomic.Bool
	spoolOK atomic.Bool

	// batcher goroutine state
	enc   batchEncoder
	idBuf []byte
	// idPrefix is what this run's batch ids start with (batchPrefix).
	idPrefix string
	// seq is the sequence of the next batch: the batcher takes one for
	// each batch it begins (batchSeq), the sender one for each second
	// half of a batch it splits (emitter_split.go).
	seq      atomic.Uint64
	batchSeq uint64 // the sequence of the batch being built
	started  time.Time
	maxBatch atomic.Int64
	neededAt time.Time // last time a batch waited for the sender (emitter_spare.go)
	agg      aggregator
	drops    dropLog // batcher only, then Close

	held      []*outBatch // sender goroutine only: Strict batches that fit nowhere yet
	replayBuf []byte      // sender goroutine only: the spooled batch being replayed
	// replayUnsettled is the name of the spooled batch the replay's last
	// attempt left unsettled (no answer, a late one, a read that failed):
	// a duplicate answer to its next attempt may be of that one
	// (heldBefore); sender goroutine only.
	replayUnsettled string
	// retryAfter is the last answer's Retry-After (0: none); sender
	// goroutine only. backoff waits at least that long.
	retryAfter time.Duration
	// lastSlow says the last answer was sendSlow; sender goroutine only.
	lastSlow bool
	// lastLate says the last attempt ran out of the emitter's own time
	// (no answer: the collector may have stored the batch, emitter_split.go);
	// sender goroutine only.
	lastLate bool
	// dupRecords is the last answer's HeaderDuplicate (notDup: none);
	// sender goroutine only.
	dupRecords int
	// dupStoredBy is the last duplicate answer's HeaderStoredBy ("" when
	// it had none); sender goroutine only.
	dupStoredBy storedBy
	// batchCap caps the records of a new batch below BatchSize after the
	// link did not carry one in time (0: no cap); capSet is when it last
	// changed, sender goroutine only (emitter_split.go).
	batchCap atomic.Int64
	capSet   time.Time
	// capWait is the wait before the cap is raised again, doubled by a
	// raise the link did not carry (probing says the last change was a
	// raise); sender goroutine only.
	capWait   time.Duration
	probing   bool
	probeFrom int // the cap before the raise probing tries

	alarm alarm // logs failures, rate-limited; the audit path's health

	// unsent counts the bytes of batches queued for the sender or in its
	// hands: while the collector is down, they are the spool's next input.
	unsent atomic.Int64
	// spoolPending counts the batches handed to the spooler and not yet
	// written (or dropped): the spool is not empty while it holds any.
	spoolPending atomic.Int64

	mu      sync.Mutex // guards the following fields
	backlog bool       // the spool holds batches: new ones queue behind them

	delivered, spooled, replayed, restored, droppedFull, droppedSpool, rejected, batches, retries, aggregated, splits atomic.Uint64
}

// NewEmitter opens the spool (replaying what an earlier run left there) and
// starts the batching and delivery goroutines.
func NewEmitter(cfg EmitterConfig) (*Emitter, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("audit: emitter needs a collector URL")
	}
	if cfg.Mode == Strict && cfg.SpoolDir == "" {
		return nil, fmt.Errorf("audit: strict mode needs a spool directory")
	}
	prefix := batchPrefix(cfg.InstanceID)
	cfg = emitterDefaults(cfg)
	p, err := newPoster(cfg.URL, cfg.Token, cfg.TLS, cmp.Or(cfg.postTimeout, postTimeout))
	if err != nil {
		return nil, err
	}
	q, err := newRing(cfg.Slots)
	if err != nil {
		return nil, err
	}
	sp, err := openSpoolKeyed(cfg.SpoolDir, cfg.SpoolMaxBytes, lostKey(cfg.Token))
	if err != nil {
		return nil, err
	}
	e := &Emitter{cfg: cfg, q: q, sp: sp, poster: p,
		wake: make(chan struct{}, 1), done: make(chan struct{}), sendCh: make(chan *outBatch, sendQueue), spoolQ: make(chan *outBatch, sendQueue),
		free: make(chan *outBatch, spareBatches), wakeAt: uint64(min(cfg.BatchSize, emitterWakeAt))}
	e.seq.Store(sp.nextSeq())
	e.idPrefix = cmp.Or(prefix, cfg.InstanceID)
	e.log = zerolog.Nop()
	if cfg.Log != nil {
		e.log = *cfg.Log
	}
	if sp.lostBad > 0 {
		// The batches those lines counted lost are not known: one put back
		// under their numbers counts replayed as well as dropped.
		e.log.Warn().Int("lines", sp.lostBad).Str("file", filepath.Join(cfg.SpoolDir, lostFile)).Msg("audit: lines of the spool's lost-batch file unreadable, left out")
	}
	e.enc.res = Resource{Service: cfg.Service, Host: cfg.Host, InstanceID: cfg.InstanceID, Pod: cfg.Pod, Namespace: cfg.Namespace}
	e.enc.size = cfg.BatchSize
	e.alarm.log, e.alarm.every = e.log, cfg.LogInterval
	e.drops.every = cfg.DropLogInterval
	sp.remade = e.spoolRemade
	e.backlog = func() bool { _, ok := sp.oldest(); return ok }()
	e.updateSpoolOK()
	e.stopped.Add(3)
	go e.runBatcher()
	go e.runSpooler()
	go e.runSender()
	return e, nil
}

func emitterDefaults(cfg EmitterConfig) EmitterConfig {
	setDefault(&cfg.SpoolMaxBytes, 256<<20)
	setDefault(&cfg.BatchSize, 512)
	setDefault(&cfg.FlushInterval, time.Second)
	setDefault(&cfg.Slots, DefaultSlots)
	setDefault(&cfg.RetryBudget, 2*time.Second)
	setDefault(&cfg.CloseTimeout, 5*time.Second)
	setDefault(&cfg.MinBackoff, 100*time.Millisecond)
	setDefault(&cfg.MaxBackoff, 30*time.Second)
	setDefault(&cfg.BatchCapProbe, 10*time.Second)
	setDefault(&cfg.LogInterval, time.Minute)
	setDefault(&cfg.DropLogInterval, DefaultDropLogInterval)
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	if cfg.InstanceID == "" {
		var b [8]byte
		rand.Read(b[:])
		cfg.InstanceID = hex.EncodeToString(b[:])
	}
	return cfg
}

// batchPrefix is the start of a run's batch ids for the instance id
// given, "" for a random one: the instance id and a random run id. A run
// numbers its batches from one past the highest in its spool, from 1 when
// the spool is empty, so an instance id given again after a restart sent
// ids the collector held already, which it answered as duplicates
// without storing them (TestEmitterWithFixedInstanceRestarted). A random
// instance id is new each run and is the prefix alone.
func batchPrefix(instance string) string {
	if instance == "" {
		return ""
	}
	var b [6]byte
	rand.Read(b[:])
	return instance + "." + hex.EncodeToString(b[:])
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Emit copies *r into a free slot. It never blocks, allocates only when
// more records are in flight than before (ring.go), keeps no pointer to
// r, and returns false when the record could not be captured.
func (e *Emitter) Emit(r *Record) bool {
	return e.captured(e.q.push(r))
}

// Swap is Emit without the copy: it keeps r itself and returns another
// record for the caller to fill next time, which it owns from then on, as
// the Emitter owns r. When the record cannot be captured it returns r and
// false, and r stays the caller's. It never blocks and allocates as Emit.
func (e *Emitter) Swap(r *Record) (*Record, bool) {
	spare, ok := e.q.swap(r)
	if !e.captured(ok) {
		return r, false
	}
	return spare, true
}

// captured counts a push that failed, or wakes the sender when enough
// records wait.
func (e *Emitter) captured(ok bool) bool {
	if !ok {
		e.droppedFull.Add(1)
		return false
	}
	if e.q.len()%e.wakeAt == 0 {
		wakeup(e.wake)
	}
	return true
}

// Accepting reports whether a record emitted now would be captured and,
// in Strict mode, could be spooled if the collector is unreachable.
func (e *Emitter) Accepting() bool {
	if e.closed.Load() || e.q.full() {
		return false
	}
	return !e.strict() || e.spoolOK.Load()
}

// strict reports whether the Emitter is in Strict mode now.
func (e *Emitter) strict() bool {
	if e.cfg.Strict != nil {
		return e.cfg.Strict()
	}
	return e.cfg.Mode == Strict
}

// Stats returns the counters.
func (e *Emitter) Stats() EmitterStats {
	s := EmitterStats{Captured: e.q.pushed(), Delivered: e.delivered.Load(), Spooled: e.spooled.Load(),
		Replayed: e.replayed.Load(), Restored: e.restored.Load(), DroppedFull: e.droppedFull.Load(), DroppedSpool: e.droppedSpool.Load(),
		Rejected: e.rejected.Load(), Batches: e.batches.Load(), Retries: e.retries.Load(), Aggregated: e.aggregated.Load(), Splits: e.splits.Load(), BatchCap: int(e.batchCap.Load())}
	s.Dropped = s.DroppedFull + s.DroppedSpool + s.Rejected
	s.SpoolFiles, s.SpoolRecords, s.SpoolBytes = e.sp.usage()
	return s
}

// Close stops capturing, then delivers or spools every captured record. It
// tries each remaining batch once and spools it if that fails.
func (e *Emitter) Close() error {
	e.once.Do(func() {
		e.closed.Store(true)
		// Every attempt at the collector ends by CloseTimeout from now,
		// the one in flight included.
		e.poster.cutAt(time.Now().Add(e.cfg.CloseTimeout))
		close(e.done)
		e.stopped.Wait()
		e.logDrops(time.Now(), true)
		e.logLeftInSpool()
		e.sp.close()
	})
	return nil
}

// logLeftInSpool says, at Close, what the spool still holds: batches the
// collector has not acknowledged. They are sent when an emitter opens the
// spool again; a spool deleted first (a pod's emptyDir goes with the pod)
// loses them. The sidecar stopped saying only "stopped", exit 0, with the
// records of a collector outage left behind unsaid
// (TestEmitterCloseNamesWhatTheSpoolHolds).
func (e *Emitter) logLeftInSpool() {
	files, records, bytes := e.sp.usage()
	if records == 0 {
		return
	}
	e.log.Warn().Str("spool", e.sp.dir).Int("records", records).Int("batches", files).Int64("bytes", bytes).
		Msg("audit records left in the spool, not delivered to the collector: they are sent when the sidecar starts again on this spool; deleting it (a pod's emptyDir goes with the pod) loses them")
}

// closing reports whether Close has been called.
func (e *Emitter) closing() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// updateSpoolOK recomputes whether the spool could take one more batch,
// counting the batches on their way to it. (One it cannot write is held in
// Strict mode: the slots fill and Accepting turns false.)
func (e *Emitter) updateSpoolOK() {
	need := max(e.maxBatch.Load(), 64<<10)
	e.spoolOK.Store(e.sp.dir != "" && e.sp.used.Load()+need <= e.sp.max)
}
