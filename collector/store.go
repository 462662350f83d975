package collector

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/durable"
)

// StoreConfig configures a Store.
type StoreConfig struct {
	SigningKey ed25519.PrivateKey // signs segment digests and the head; required
	// PreviousKey, when set, is the key the store was signed with until
	// now: OpenStore opens the store with it and rotates it to SigningKey
	// (KindKeyRotation). A store rotated to SigningKey already opens with
	// SigningKey, the rotation not written again.
	PreviousKey     ed25519.PrivateKey
	SegmentMaxBytes int64            // rotate past this size; 0 means 64 MiB
	SegmentMaxAge   time.Duration    // rotate a segment this old; 0 means 1h
	Retention       time.Duration    // delete closed segments older than this; 0 keeps all
	Now             func() time.Time // clock; nil means time.Now
	OnDeferred      func(error)      // called (under the store's lock) with failures retried later; may be nil
	// OnPlanted is called (under the store's lock) with what was found
	// planted at one of the store's temporary names and how it was
	// cleared away (clearPlanted); may be nil.
	OnPlanted func(what string)
	// OnAnchor is called (under the store's anchor lock) with what the
	// store found at an anchor in place of the head it last wrote there
	// and published over: the head deleted, or moved back to an older
	// head of the store's chain; may be nil. A head it does not publish
	// over is an error of PublishChecked (ErrHeadConflict).
	OnAnchor func(msg string)
	// OnBreak is called (under the store's lock) each time the store
	// records a break in its chain (see KindBreak): the segment it went
	// into, how many entries it left unvouched for (0: unknown) and why.
	// The store goes on, and every verify fails from the break on, so
	// the caller must say so where an operator looks; may be nil.
	OnBreak func(segment uint64, untrusted int, reason string)
	// AcceptMissingHead, when not empty, says who accepted a store that
	// holds segments or digests but no valid head.json (none, not a
	// regular file, or one empty, unreadable as a signed head or not
	// signed by the store's key), or one older than the newest head the
	// chain's entries record as written durably (checkHeadLag), which
	// OpenStore refuses otherwise (checkHeadPresent): the store then
	// records the break, naming what stood there and this text, and
	// goes on. The collector's --accept-missing-head sets it.
	AcceptMissingHead string
	// PublishesCounted says the collector publishes the store's heads to
	// a CountedAnchor (etcd). A store created with it records that it
	// publishes counted heads (Store.counted) in its first signed head,
	// before any publication, so that no copy of it is without that
	// record: a head with no count found at its key, or the key gone, is
	// a rollback (countedHead, countedGone), except at the start that
	// created it (createdNow). The collector sets it with --etcd.
	PublishesCounted bool
	// Detection is the detection hook (issue 14; alert.Engine.Hooks).
	Detection Detection
	// MaxCertSenders bounds the client certificate senders whose batch
	// ids the store remembers at once; a new one past it is refused
	// (ErrTooManySenders). 0 means DefaultMaxCertSenders, negative no
	// bound. SenderIdle is how long a certificate sender may send nothing
	// before the store forgets it (dedup.go; not while its second sums
	// can still be charged, secondSums.heldAt); 0 means DefaultSenderIdle,
	// negative never.
	MaxCertSenders int
	SenderIdle     time.Duration
}

// Detection is how a Store hands what it stores to the alert engine
// (issue 14). Detect and Commit run under the store's lock, in storage
// order, so the engine sees the chain in the order it is written and
// knows which position its state corresponds to; they must not call the
// store. Any field may be nil.
type Detection struct {
	// Detect is called before a batch or group of events is written, with
	// the chain position it will take (seq) and its records (their Sender
	// set to the batch's) or events,
	// which are valid only during the call (the intake reuses a batch's
	// record slice for the next batch); the strings in them may be kept.
	// The events it returns are stored in that same entry: a batch's
	// alert events cost no signed, fsync'd entry of their own
	// (BenchmarkCollectorIngestInterleaved), and replay finds them next
	// to the records that caused them.
	Detect func(seq uint64, records []StoredRecord, events []Event) []Event
	// Commit is called after every append attempt (retention entries
	// too) with the chain position and hash of the newest stored entry
	// and whether the attempt stored its entry.
	Commit func(seq uint64, hash [32]byte, stored bool)
	// After is called after every append of a batch or events, outside
	// the store's lock: the engine delivers what the committed entries
	// opened or closed (tickets, containment), which may call the store.
	After func()
}

// StoreStats are a Store's counters since it was opened.
type StoreStats struct {
	Batches uint64 // batches stored
	Records uint64 // records in them
	// CountsNotBelieved counts records stored with a count their
	// Requests does not take (StoredRecord.CountNotBelieved): on a record
	// the sidecar never folds, or past its ceiling.
	CountsNotBelieved uint64
	Duplicates        uint64 // batches refused as already stored
	// OutsideWindow counts batches refused because their sequence lay
	// below the deduplication window of their instance
	// (ErrBatchOutsideWindow).
	OutsideWindow uint64
	// SendersFull counts batches refused because StoreConfig.MaxCertSenders
	// certificate senders were live and theirs was new (ErrTooManySenders).
	SendersFull uint64
	Events      uint64 // lifecycle events stored
	Expired     uint64 // segments deleted by retention
	Breaks      uint64 // breaks recorded at recovery (see KindBreak)
	// Deferred counts failures after an entry was durably stored (the
	// signed head, a rotation): the entry stands and the step is retried
	// on the next append.
	Deferred uint64
	// Unverified counts stored events marked Unverified.
	Unverified uint64
	// EventDuplicates counts events not stored again (same key and revision).
	EventDuplicates uint64
	// AnchorsWithheld counts the anchors signed heads are not published
	// to now, because the store does not hold the head published there,
	// or another collector's head replaced the store's there (see
	// Store.PublishChecked).
	AnchorsWithheld uint64
	// HeadConflicts counts the publications refused because another
	// collector's head replaced the store's at an anchor (ErrHeadConflict).
	HeadConflicts uint64
	// HeadFailures counts the rounds of RunHeadSigner that failed to
	// sign the head or publish it to an anchor.
	HeadFailures uint64
	// HeadPublished is when a signed head was last published to every
	// anchor (zero: never, by this process).
	HeadPublished time.Time
	// Probes counts the probes of a store refusing appends (Probe).
	Probes uint64
}

// Event is a control-plane lifecycle event (key created, revoked, client
// suspended, policy pushed...) stored in the same chain as audit records.
// Key and Revision come from etcd, ClaimedTime from the event's value.
// etcd keeps no write times, so Time is when the collector read the write:
// moments after it for an event seen on the watch, an upper bound for one
// read while catching up after downtime.
type Event struct {
	Time     time.Time `json:"time"`
	Key      string    `json:"key,omitempty"`      // etcd key of the event
	Revision int64     `json:"revision,omitempty"` // etcd revision of its write
	// Cluster is the id of the etcd cluster the event was read from:
	// revisions grow within one cluster, so the store remembers the
	// events it holds as a high-water revision per cluster (eventmarks.go).
	// 0 for an event stored before the field, or not read from etcd.
	Cluster     uint64    `json:"cluster,omitempty"`
	ClaimedTime time.Time `json:"claimed_time,omitzero"`
	// Unverified says why the change the event describes was not found in
	// the event's own etcd transaction; "" when it was.
	Unverified string          `json:"unverified,omitempty"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	Target     string          `json:"target"`
	Reason     string          `json:"reason,omitempty"`
	Ticket     string          `json:"ticket,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
}

// Store is the collector's append-only, hash-chained, signed storage. Every
// entry (a batch, a group of events or a retention note) is one JSON line
// in the current segment file, fsync'd before the append returns. It is
// safe for concurrent use; appends are serialised.
type Store struct {
	dir  string
	cfg  StoreConfig
	lock *os.File // storeLock, held from OpenStore to Close
	// keys are the store's signing keys by segment (keyring.go); the
	// last is cfg.SigningKey's. rotatedNow is set when OpenStore wrote a
	// key rotation.
	keys       *keyRing
	rotatedNow bool

	mu         sync.Mutex // guards the following fields
	seg        *os.File   // open segment, nil between rotation and the next append
	segNum     uint64
	segSize    int64
	segSHA     hash.Hash
	segStart   time.Time
	segFirst   uint64
	segEntries int
	segFirstH  [32]byte
	seq        uint64
	prev       [32]byte
	lastSig    string
	seen       dedup               // the batch ids stored, bounded (dedup.go)
	seenEvents eventMarks          // the etcd events stored, bounded (eventmarks.go)
	retained   map[uint64]struct{} // segments a retention entry of the chain names
	// sumsScratch is the copy of a sender's second sums a batch is
	// summed into before it is stored (ceiling.go).
	sumsScratch secondSums
	// sumsFrom is, during recovery, the time from which the batch entries
	// read have their believed counts summed again (restore.go); zero
	// after it.
	sumsFrom time.Time
	// sumsFloor is, after recovery, the first second recovery summed
	// again, when a batch was stored before it: a count of an earlier
	// second is not believed (restore.go). 0 when none.
	sumsFloor int64
	// sumsRead are the batch entries whose counts recovery summed again.
	sumsRead int
	// sumsBuf are the buffers recovery decodes those entries' records in.
	sumsBuf bodyBuffers
	// unrecorded are segments retention deleted on a full disk whose
	// entry it could not write then: the next pass writes it.
	unrecorded map[uint64]struct{}
	// newestRetention is the retention entry of the highest segment read
	// at the start (expiredAccounted).
	newestRetention struct {
		segment uint64
		at      time.Time
		period  time.Duration
	}
	// durableHead is the seq of the newest head written durably (the
	// directory fsync'd after its rename: signHeadLocked), by this
	// process or, at the start, as the chain's newest trusted entries
	// record it (durableFrom is the entry that does). Every entry records
	// it (bodyHeaderAt): no crash leaves head.json older than it, so a
	// start refuses a head.json that is (checkHeadLag).
	durableHead uint64
	durableFrom uint64
	// headAccepted says what stood in place of head.json at the start
	// and who accepted it (StoreConfig.AcceptMissingHead), for the break
	// recorded; "" when head.json was there.
	headAccepted string
	// headLagged says headAccepted is a valid head.json older than the
	// chain records (checkHeadLag), for checkHead's break.
	headLagged bool
	// counted says the store published a head numbered with its etcd
	// key's count (CountedAnchor) there: every head.json and entry
	// written since records it ("counted"), so that a start that finds
	// no head at the key knows it was deleted (checkAnchor) rather than
	// publishing a first head there again, which would start the key's
	// count anew beside a store rolled back. A store created with
	// StoreConfig.PublishesCounted records it from its first head; one
	// created without it (or by an older release), and rolled back to
	// before that publication, does not know it.
	counted atomic.Bool
	// createdNow says this OpenStore created the store (no marker,
	// segment, digest or head was there: a marker deleted from a store
	// holding them does not count): at this start, and only then, an empty counted anchor
	// is the store's first, not a key deleted (countedGone). Set before
	// the store is shared.
	createdNow bool

	stats StoreStats
	buf   []byte // the body being encoded, reused
	line  []byte // the entry line being written, reused
	// lineBytes is the size of the entry line last written: what the
	// append took of the disk (Batch.stored).
	lineBytes int
	closed    bool
	torn      bool // a failed append left bytes after segSize

	amu     sync.Mutex     // guards anchors; taken before mu
	anchors []*anchorState // what the store knows of where its heads are published
	// withheldAnchors counts the anchors whose withheld is set.
	withheldAnchors atomic.Uint64
	// anchorProblems are the withheld anchors and why, for /healthz,
	// replaced whole as withheldAnchors is.
	anchorProblems atomic.Pointer[[]AnchorProblem]
	// headConflicts is StoreStats.HeadConflicts.
	headConflicts atomic.Uint64
	// headFailures and headPublished (unix nanoseconds) are
	// StoreStats.HeadFailures and HeadPublished, kept by signAndPublish.
	headFailures  atomic.Uint64
	headPublished atomic.Int64
	// failSince (unix nanoseconds; 0: appends succeed) and failErr are
	// Health's, set by every append (health.go).
	failSince atomic.Int64
	failErr   atomic.Pointer[string]
	failNeed  atomic.Int64 // bytes the failed append needed, which Probe reserves
	failLast  atomic.Int64 // the last failed append (unix nanoseconds), which failNeed expires from
	// probedAt is when Probe last probed (unix nanoseconds, 0: never),
	// probes how many times; probeEvery the least time between two
	// probes (DefaultProbeEvery; nanoseconds).
	probedAt   atomic.Int64
	probes     atomic.Uint64
	probeEvery atomic.Int64
	// headFailSince (unix nanoseconds; 0: the last round published) and
	// headErr are Health's, set by each round of signing and publishing
	// the head (countHead).
	headFailSince atomic.Int64
	headErr       atomic.Pointer[string]
}

// OpenStore opens (creating) the store in dir, rebuilding the chain head
// and the memory of stored batch ids (bounded: dedup.go) from the segments. A torn last line (a
// crash mid-append, never acknowledged) is cut off.
func OpenStore(dir string, cfg StoreConfig) (*Store, error) {
	if len(cfg.SigningKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("collector: store %q needs an Ed25519 signing key", dir)
	}
	if err := checkRetention(cfg.Retention); err != nil {
		return nil, err
	}
	setDefault(&cfg.SegmentMaxBytes, 64<<20)
	setDefault(&cfg.SegmentMaxAge, time.Hour)
	if cfg.MaxCertSenders == 0 {
		cfg.MaxCertSenders = DefaultMaxCertSenders
	}
	if cfg.SenderIdle == 0 {
		cfg.SenderIdle = DefaultSenderIdle
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("collector: cannot create store directory %q: %w", dir, err)
	}
	lock, err := lockStore(dir)
	if err != nil {
		return nil, err
	}
	removeProbes(dir)
	os.Remove(filepath.Join(dir, oldHeadTemp)) // left by a crash of an older collector; see oldHeadTemp
	s := &Store{dir: dir, cfg: cfg, lock: lock,
		retained:   make(map[uint64]struct{}),
		unrecorded: make(map[uint64]struct{}),
		seen:       dedup{maxCert: max(cfg.MaxCertSenders, 0), idle: max(cfg.SenderIdle, 0)}}
	s.probeEvery.Store(int64(DefaultProbeEvery))
	next, err := s.openKeys()
	if err != nil {
		lock.Close()
		return nil, err
	}
	if err := s.recover(); err != nil {
		lock.Close()
		return nil, err
	}
	if err := s.recordRetentionLocked(); err != nil {
		lock.Close()
		return nil, err
	}
	if err := s.keepRotationsLocked(); err != nil {
		lock.Close()
		return nil, err
	}
	if next != nil {
		s.mu.Lock()
		err := s.rotateKeyLocked(next)
		s.mu.Unlock()
		if err != nil {
			s.Close()
			return nil, err
		}
		s.rotatedNow = true
	}
	return s, nil
}

// ErrDuplicateBatch is returned (wrapped) by AppendBatch for a batch id that
// is already stored; the caller acknowledges it as delivered.
var ErrDuplicateBatch = errors.New("collector: duplicate batch")

// DuplicateBatchError is AppendBatch's error for a batch id already
// stored (errors.Is ErrDuplicateBatch). Records is the number of records
// stored under that id, -1 when the store no longer knows (dedup.records).
//
// StoredBy says, for a batch carrying a replay token (Batch.Replay),
// which request stored it (audit.HeaderStoredBy), "" when not known.
type DuplicateBatchError struct {
	ID, Sender string
	Records    int
	StoredBy   string
}

func (e *DuplicateBatchError) Error() string {
	return fmt.Sprintf("%v: %q from %q", ErrDuplicateBatch, e.ID, e.Sender)
}

func (e *DuplicateBatchError) Unwrap() error { return ErrDuplicateBatch }

// AppendBatch stores b durably. A batch whose id is already stored is not
// stored again and yields ErrDuplicateBatch; one whose entry would pass
// MaxEntryBytes is not stored and yields ErrBatchTooLarge.
func (s *Store) AppendBatch(b *Batch) error {
	err := s.appendBatch(b)
	s.after()
	return err
}

// after calls the detection hook's After.
func (s *Store) after() {
	if s.cfg.Detection.After != nil {
		s.cfg.Detection.After()
	}
}

// detectLocked runs the detection hook on the entry about to be written.
func (s *Store) detectLocked(records []StoredRecord, events []Event) []Event {
	if s.cfg.Detection.Detect == nil || s.closed {
		return nil
	}
	return s.cfg.Detection.Detect(s.seq+1, records, events)
}

// AdmitsSender reports (ErrTooManySenders) whether a batch of sender would
// be refused because MaxCertSenders certificate senders are live and it
// is new, so the Collector refuses it before reading its body.
func (s *Store) AdmitsSender(sender string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.seen.admits(sender, s.cfg.Now())
	if err != nil {
		s.stats.SendersFull++
	}
	return err
}

func (s *Store) appendBatch(b *Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.seen.admits(b.Sender, s.cfg.Now()); err != nil {
		s.stats.SendersFull++
		return err
	}
	dup, err := s.seen.check(b.Sender, b.ID)
	if err != nil {
		s.stats.OutsideWindow++
		return err
	}
	if dup {
		s.stats.Duplicates++
		n, known := s.seen.records(b.Sender, b.ID)
		if !known {
			n = -1
		}
		return &DuplicateBatchError{ID: b.ID, Sender: b.Sender, Records: n, StoredBy: s.seen.storedBy(b.Sender, b.ID, b.Replay)}
	}
	// The records are encoded before detection sees them, so that a batch
	// too large for one entry is refused before it counts, with room kept
	// for the alert events detection derives from it: a batch refused after
	// detection counted it leaves the engine's state ahead of the trail
	// until a restart replays it (Commit with stored false, below).
	at := s.cfg.Now().UTC().Round(0) // the entry's time, as a replay reads it
	// The sender's counts are summed before the records are encoded: a
	// record past its sender's ceiling is stored flagged, so every reader
	// of the trail, detection's replay too, counts it as detection does.
	sums := s.holdSenderCountsLocked(b, at)
	recs := s.batchRecordsAtLocked(b, at)
	if err := entryFits(b, recs, derivedReserve); err != nil {
		s.trimBufLocked()
		return err
	}
	// Detection sees each record's sender (encoded above without it, as
	// the entry names it once): what a record says is its sender's claim,
	// and an alert names who delivered what fired it. It sees when the
	// entry stored them too (Received, the entry's time), as a replay of
	// the entry does: a record dated after it is counted at it.
	for i := range b.Records {
		b.Records[i].Sender, b.Records[i].Received = b.Sender, at
		b.Records[i].SenderBound, b.Records[i].BoundTenants = b.BoundTenants != "", b.BoundTenants
	}
	derived := s.detectLocked(b.Records, nil)
	body, err := s.finishBatchBodyLocked(b, recs, derived)
	if err == nil {
		err = entryFits(b, body, 0)
	}
	if err != nil {
		s.trimBufLocked()
		s.commitLocked(false)
		return err
	}
	err = s.appendLocked(body)
	s.trimBufLocked()
	if err != nil {
		return err
	}
	b.stored = int64(s.lineBytes)
	s.seen.addBy(b.Sender, b.ID, len(b.Records), b.Replay, s.cfg.Now())
	s.keepSenderSumsLocked(b.Sender, sums)
	s.stats.Batches++
	s.stats.Records += uint64(len(b.Records))
	for i := range b.Records {
		if b.Records[i].CountNotBelieved() {
			s.stats.CountsNotBelieved++
		}
	}
	s.stats.Events += uint64(len(derived))
	return nil
}

// trimBufLocked drops s.buf when it is larger than bodies usually are, so
// that an outsized batch's body does not stay pinned.
func (s *Store) trimBufLocked() {
	if cap(s.buf) > maxPooledBody {
		s.buf = nil
	}
}

// derivedReserve is the room of a store entry kept for the alert events
// detection derives from its batch. It is not a bound on them: a batch
// whose events outgrow it is still refused after detection, as before.
const derivedReserve = 1 << 20

// entryFits refuses a batch whose chain body (or the start of it) and
// reserve more bytes are too large for a segment line: readers stop at a
// line over MaxEntryBytes, and JSON escaping makes a byte of a record up
// to six, so a batch within the intake's limits can be.
func entryFits(b *Batch, body []byte, reserve int) error {
	if room := MaxEntryBytes - entryOverhead - reserve; len(body) > room {
		return fmt.Errorf("%w: batch %q of %d records encodes to %d bytes or more, over the %d bytes of a store entry", ErrBatchTooLarge, b.ID, len(b.Records), len(body), room)
	}
	return nil
}

// batchBodyLocked encodes the chain body of a batch into s.buf, with the
// events detection derived from it (issue 14).
func (s *Store) batchBodyLocked(b *Batch, events []Event) ([]byte, error) {
	return s.finishBatchBodyLocked(b, s.batchRecordsLocked(b), events)
}

// batchRecordsLocked encodes the chain body of a batch up to the end of
// its records into s.buf.
func (s *Store) batchRecordsLocked(b *Batch) []byte {
	return s.batchRecordsAtLocked(b, s.cfg.Now())
}

// batchRecordsAtLocked is batchRecordsLocked with the entry's time at.
func (s *Store) batchRecordsAtLocked(b *Batch, at time.Time) []byte {
	buf := s.bodyHeaderAt(s.buf[:0], KindBatch, at)
	buf = appendStringField(buf, `,"batch_id":`, b.ID)
	if b.Sender != "" {
		buf = appendStringField(buf, `,"sender":`, b.Sender)
	}
	buf = appendStringField(buf, `,"service":`, b.Service)
	buf = appendStringField(buf, `,"host":`, b.Host)
	buf = appendStringField(buf, `,"instance":`, b.Instance)
	if b.Pod != "" {
		buf = appendStringField(buf, `,"pod":`, b.Pod)
	}
	if b.BoundTenants != "" {
		buf = appendStringField(buf, `,"bound_tenants":`, b.BoundTenants)
	}
	buf = appendReplay(buf, b.Replay)
	buf = append(buf, `,"records":[`...)
	for i := range b.Records {
		if len(buf)+entryOverhead > MaxEntryBytes {
			break // too large already (entryFits): encode no more
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = b.Records[i].AppendJSON(buf)
	}
	buf = append(buf, ']')
	s.buf = buf
	return buf
}

// finishBatchBodyLocked ends the body batchRecordsLocked began, buf, with
// the events detection derived from the batch.
func (s *Store) finishBatchBodyLocked(b *Batch, buf []byte, events []Event) ([]byte, error) {
	if len(events) > 0 {
		ev, err := json.Marshal(events)
		if err != nil {
			return nil, fmt.Errorf("collector: cannot encode %d alert events of batch %q: %w", len(events), b.ID, err)
		}
		buf = append(append(buf, `,"events":`...), ev...)
	}
	buf = append(buf, '}')
	s.buf = buf
	return buf, nil
}

// bodyHeader starts a body: {"seq":N,"kind":K,"time":T, and
// "durable_head":D once a head was written durably (Store.durableHead).
func (s *Store) bodyHeader(buf []byte, kind string) []byte {
	return s.bodyHeaderAt(buf, kind, s.cfg.Now())
}

// appendReplay appends the "replay" field of a batch: the token of the
// sidecar's replay that stored it (audit.HeaderReplay), 16 hex digits,
// or "" for a request without one (the sidecar's first post of it), so
// that a restart rebuilds which request stored each batch
// (dedup.storedBy). Before, the token was kept in memory only, and after
// a restart the answer to a duplicate said nothing
// (TestStoredBySurvivesCollectorRestart). A batch with no field at all
// was stored by a collector before the field, which wrote none for
// either request: which one stored it is not known
// (TestStoredByOfOlderCollectorNotKnown).
func appendReplay(buf []byte, token uint64) []byte {
	if token == 0 {
		return append(buf, `,"replay":""`...)
	}
	buf = append(buf, `,"replay":"`...)
	for shift := 60; shift >= 0; shift -= 4 {
		buf = append(buf, "0123456789abcdef"[token>>uint(shift)&0xf])
	}
	return append(buf, '"')
}

// bodyHeaderAt is bodyHeader at time now.
func (s *Store) bodyHeaderAt(buf []byte, kind string, now time.Time) []byte {
	buf = append(buf, `{"seq":`...)
	buf = strconv.AppendUint(buf, s.seq+1, 10)
	buf = appendStringField(buf, `,"kind":`, kind)
	buf = append(buf, `,"time":"`...)
	buf = now.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, '"')
	if s.durableHead > 0 {
		buf = strconv.AppendUint(append(buf, `,"durable_head":`...), s.durableHead, 10)
	}
	if s.counted.Load() {
		buf = append(buf, `,"counted":true`...)
	}
	return buf
}

// AppendEvents stores control-plane lifecycle events durably, as one
// entry when they fit in MaxEntryBytes and else as several. An event with
// a Key is stored once: one whose key and revision are stored already is
// left out (issue 13 item 4). An event too large for an entry on its own
// is not stored and fails the append (errEventTooLarge), after the events
// before it are stored.
func (s *Store) AppendEvents(events []Event) error {
	_, err := s.appendEvents(events)
	s.after()
	return err
}

// maxEventsBytes bounds the encoded events of one events entry: the line
// adds the header, chain hashes, signature and derived detection events,
// well under the rest of MaxEntryBytes.
const maxEventsBytes = MaxEntryBytes - 1<<20

// errEventTooLarge refuses an event whose encoding alone passes
// maxEventsBytes.
var errEventTooLarge = errors.New("event too large for one store entry")

// appendEvents stores the events not stored before and returns them.
func (s *Store) appendEvents(events []Event) ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	events = s.newEventsLocked(events)
	var stored []Event
	for len(events) > 0 {
		n, err := eventsThatFit(events, maxEventsBytes)
		if err != nil {
			return stored, err
		}
		if err := s.appendEventsEntryLocked(events[:n]); err != nil {
			return stored, err
		}
		stored, events = append(stored, events[:n]...), events[n:]
	}
	return stored, nil
}

// eventsThatFit returns how many of the first events encode within limit
// bytes (at least one), or errEventTooLarge when the first alone does not.
func eventsThatFit(events []Event, limit int) (int, error) {
	size := 2
	for i := range events {
		b, err := json.Marshal(&events[i])
		if err != nil {
			return 0, fmt.Errorf("collector: cannot encode event %q at revision %d: %w", events[i].Key, events[i].Revision, err)
		}
		size += len(b) + 1
		if size > limit {
			if i == 0 {
				return 0, fmt.Errorf("collector: event %q at revision %d is %d bytes encoded: %w", events[0].Key, events[0].Revision, len(b), errEventTooLarge)
			}
			return i, nil
		}
	}
	return len(events), nil
}

// appendEventsEntryLocked stores events, which fit in one entry, as one.
func (s *Store) appendEventsEntryLocked(events []Event) error {
	derived := s.detectLocked(nil, events)
	ev, err := json.Marshal(append(events[:len(events):len(events)], derived...))
	if err != nil {
		s.commitLocked(false)
		return fmt.Errorf("collector: cannot encode %d events: %w", len(events), err)
	}
	body := s.bodyHeader(nil, KindEvents)
	body = append(append(append(body, `,"events":`...), ev...), '}')
	if len(body)+entryOverhead > MaxEntryBytes {
		s.commitLocked(false)
		return fmt.Errorf("collector: %d events with %d derived are %d bytes encoded: %w", len(events), len(derived), len(body), errEventTooLarge)
	}
	if err := s.appendLocked(body); err != nil {
		return err
	}
	for _, e := range events {
		if e.Key != "" {
			s.seenEvents.addAt(eventKey{Key: e.Key, Revision: e.Revision, Cluster: e.Cluster, Action: e.Action}, s.seq)
		}
		if e.Unverified != "" {
			s.stats.Unverified++
		}
	}
	s.stats.Events += uint64(len(events) + len(derived))
	return nil
}

// entryOverhead bounds what a segment line adds to its body: the chain
// hashes, the signature and the JSON around them.
const entryOverhead = 512

// newEventsLocked returns the events not stored before (nor twice in
// events).
func (s *Store) newEventsLocked(events []Event) []Event {
	out := make([]Event, 0, len(events))
	batch := map[eventKey]bool{}
	for _, e := range events {
		k := eventKey{Key: e.Key, Revision: e.Revision, Cluster: e.Cluster}
		if e.Key != "" && (s.seenEvents.has(k) || batch[k]) {
			s.stats.EventDuplicates++
			continue
		}
		batch[k] = true
		out = append(out, e)
	}
	return out
}

// appendLocked stores body and tells the detection hook whether it did.
func (s *Store) appendLocked(body []byte) error {
	err := s.writeEntryLocked(body)
	s.noteAppendLocked(err, len(body))
	s.commitLocked(err == nil)
	return err
}

// commitLocked calls the detection hook's Commit.
func (s *Store) commitLocked(stored bool) {
	if s.cfg.Detection.Commit != nil {
		s.cfg.Detection.Commit(s.seq, s.prev, stored)
	}
}

// writeEntryLocked chains body, writes its line and fsyncs, rotating first
// when the segment is full or old, then signs the new head.
func (s *Store) writeEntryLocked(body []byte) error {
	if s.closed {
		return fmt.Errorf("collector: store %q is closed", s.dir)
	}
	if err := s.maybeRotateLocked(int64(len(body))); err != nil {
		// A full segment is a soft limit: keep appending to it and try
		// the rotation again next time (issue 21 item 9).
		s.deferLocked(err)
	}
	if err := s.ensureSegmentLocked(); err != nil {
		return err
	}
	h := chainHash(s.prev, body)
	line := appendEntryLine(s.line[:0], s.prev, h, signEntry(s.cfg.SigningKey, h), body)
	s.keepLine(line)
	if err := s.writeLocked(line); err != nil {
		return err
	}
	s.lineBytes = len(line)
	s.seq++
	if s.segEntries == 0 {
		s.segFirst, s.segFirstH = s.seq, h
	}
	s.segEntries++
	s.prev = h
	// The entry is fsync'd: it is stored. Failing the append now (a full
	// disk refusing the head) would answer 503 for a stored batch and
	// store its retry again; the head lags until the next append.
	if err := s.appendHeadLocked(); err != nil {
		s.deferLocked(err)
	}
	return nil
}

// keepLine keeps line's storage for the next entry, unless it is larger
// than entries usually are: a new line per entry was a batch's largest
// allocation (BenchmarkCollectorIngestCPU).
func (s *Store) keepLine(line []byte) {
	s.line = line[:0]
	if cap(line) > maxPooledBody {
		s.line = nil
	}
}

// deferLocked counts and reports a failure the store retries later.
func (s *Store) deferLocked(err error) {
	s.stats.Deferred++
	if s.cfg.OnDeferred != nil {
		s.cfg.OnDeferred(err)
	}
}

func (s *Store) writeLocked(line []byte) error {
	if s.torn {
		if err := s.cutTornLocked(); err != nil {
			return fmt.Errorf("collector: cannot cut a failed append off segment %q: %w", s.seg.Name(), err)
		}
	}
	if _, err := s.seg.Write(line); err != nil {
		s.cutTornLocked()
		return fmt.Errorf("collector: cannot append to segment %q: %w", s.seg.Name(), err)
	}
	if err := s.seg.Sync(); err != nil {
		s.cutTornLocked()
		return fmt.Errorf("collector: cannot sync segment %q: %w", s.seg.Name(), err)
	}
	if durable.Unlinked(s.seg) {
		// The segment (or the whole store directory) was deleted while
		// open: the line is in a file nothing can read once it closes.
		// The batch was acknowledged, its sender let it go, and /readyz
		// said "ok, storing" (TestStoreDeletedUnderTheCollectorRefuses).
		// Refused, the sender keeps it; a restart opens the store anew.
		return fmt.Errorf("%w: segment %q was deleted while open (the store directory removed or replaced?); the entry is not stored; restart the collector", errSegmentDeleted, s.seg.Name())
	}
	s.segSize += int64(len(line))
	s.segSHA.Write(line) // hash.Hash's Write never returns an error
	return nil
}

// cutTornLocked removes a partly written line so the next append starts
// on a line boundary; until it succeeds, s.torn holds and no append is
// written after the torn bytes.
func (s *Store) cutTornLocked() error {
	err := s.seg.Truncate(s.segSize)
	s.torn = err != nil
	return err
}

// ensureSegmentLocked opens the next segment when none is open.
func (s *Store) ensureSegmentLocked() error {
	if s.seg != nil {
		return nil
	}
	n := s.segNum + 1
	path := filepath.Join(s.dir, segName(n))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("collector: cannot create segment %q: %w", path, err)
	}
	if err := durable.SyncDir(s.dir); err != nil {
		// Leaving the file would make every later attempt fail with
		// "file exists" (EMFILE at rotation, issue 21 item 9), so a
		// failure to remove it is reported with the sync's.
		return errors.Join(err, discardSegment(f, path))
	}
	s.seg, s.segNum, s.segSize, s.segSHA = f, n, 0, sha256.New()
	s.segStart, s.segEntries = s.cfg.Now(), 0
	return nil
}

func (s *Store) maybeRotateLocked(next int64) error {
	if s.seg == nil || s.segEntries == 0 {
		return nil
	}
	if s.segSize+next > s.cfg.SegmentMaxBytes || s.cfg.Now().Sub(s.segStart) >= s.cfg.SegmentMaxAge {
		return s.closeSegmentLocked()
	}
	return nil
}

// closeSegmentLocked seals the open segment with a signed digest that
// carries the previous digest's signature.
func (s *Store) closeSegmentLocked() error {
	if s.torn {
		if err := s.cutTornLocked(); err != nil {
			return fmt.Errorf("collector: cannot cut a failed append off segment %q: %w", s.seg.Name(), err)
		}
	}
	if err := s.seg.Sync(); err != nil {
		return fmt.Errorf("collector: cannot sync segment %q: %w", s.seg.Name(), err)
	}
	d := segmentDigest{Segment: s.segNum, File: segName(s.segNum), Size: s.segSize,
		SHA256: hex.EncodeToString(s.segSHA.Sum(nil)), FirstSeq: s.segFirst, LastSeq: s.seq,
		Entries: s.segEntries, FirstHash: hex.EncodeToString(s.segFirstH[:]),
		LastHash: hex.EncodeToString(s.prev[:]), Start: s.segStart.UTC(), End: s.cfg.Now().UTC(),
		PrevSignature: s.lastSig}
	doc, sig, err := signDoc(s.cfg.SigningKey, domainDigest, d)
	if err != nil {
		return err
	}
	if err := s.writeFileLocked(digestName(s.segNum), doc); err != nil {
		return err
	}
	// The digest is written, so the segment is sealed whatever Close says:
	// keeping a closed file open would fail every later write.
	cerr := s.seg.Close()
	s.seg, s.lastSig = nil, sig
	// The head says the segment is sealed, after its digest is durable:
	// a start then refuses a store whose newest digest was deleted, its
	// segment left to pass for an open one (checkHeadNamed). A head
	// that cannot be written lags, as after an append.
	if _, err := s.signHeadLocked(s.cfg.Now()); err != nil {
		s.deferLocked(err)
	}
	if cerr != nil {
		return fmt.Errorf("collector: cannot close segment %q: %w", d.File, cerr)
	}
	return nil
}

// Rotate seals the open segment now (no-op when it is empty).
func (s *Store) Rotate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seg == nil || s.segEntries == 0 {
		return nil
	}
	return s.closeSegmentLocked()
}

// Stats returns the counters.
func (s *Store) Stats() StoreStats {
	s.mu.Lock()
	st := s.stats
	s.mu.Unlock()
	st.AnchorsWithheld = s.withheldAnchors.Load()
	st.HeadFailures = s.headFailures.Load()
	st.HeadConflicts = s.headConflicts.Load()
	st.Probes = s.probes.Load()
	if p := s.headPublished.Load(); p != 0 {
		st.HeadPublished = time.Unix(0, p)
	}
	return st
}

// Close seals the open segment with a digest and closes the store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	defer s.lock.Close() // after the segment is sealed: the next collector may open the store
	if s.seg == nil {
		return nil
	}
	if s.segEntries == 0 {
		return s.seg.Close()
	}
	return s.closeSegmentLocked()
}

// discardSegment closes and removes a segment file that was created but
// never used. It fails only when the file is still there: a close error
// alone does not matter once the file is gone.
func discardSegment(f *os.File, path string) error {
	cerr := f.Close()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("collector: cannot remove unused segment %q; remove it before the next append: %w", path, errors.Join(cerr, err))
	}
	return nil
}
