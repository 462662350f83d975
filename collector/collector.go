package collector

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/internal/serverlog"

	"github.com/rs/zerolog"
)

// Config configures a Collector. At least one of Token, Tokens
// and ClientCertAuth must be set; every token is at least MinTokenBytes.
type Config struct {
	Token          string        // a bearer token stored as sender "token:default"; compared in constant time
	Tokens         []SenderToken // named bearer tokens, one per sidecar or deployment
	ClientCertAuth bool          // a TLS client certificate verified by the server authenticates
	// CertRefused, when set, reports whether the verified chains of a
	// request's client certificate are refused now (revoked by a CRL
	// loaded since the connection's handshake, or their CA taken out of
	// the client CAs since): the request is then unauthenticated (401).
	CertRefused func(chains [][]*x509.Certificate) bool
	// CertTenants binds client certificate identities (as certIdentity
	// names them) to the tenants their records may name; an identity not
	// in it may name any (ParseCertTenants, binding.go).
	CertTenants  map[string][]string
	MaxBodyBytes int64 // largest accepted batch (after decompression); 0 means 16 MiB
	// Limits bound records per batch, bytes per record and the bytes a
	// batch decodes to (MaxDecodedBytes: 0 means 2 x MaxBodyBytes);
	// beyond them 413.
	Limits DecodeLimits
	// MaxInflightBytes bounds the memory held by the requests being read
	// at once, collector-wide: their body buffers (by capacity) and gzip
	// readers. A request that would take more is answered 503
	// collector_busy, with Retry-After, and its connection closed. 0
	// means 8 x MaxBodyBytes; less than one request of the largest batch
	// holds (MaxBodyBytes, a byte and a gzip reader: 48 KiB) is refused.
	// Decoded batches are bounded apart from it: decodeSlots of them at
	// once, each within Limits.MaxDecodedBytes.
	MaxInflightBytes int64
	// SenderQuota is the batch bytes (decompressed) one sender may send a
	// minute, or store (quota.charge) when more, taken from a bucket that
	// holds a minute's worth; beyond it
	// a batch is answered 429 sender_quota with Retry-After, not stored.
	// 0 means DefaultSenderQuota, negative no quota; less than
	// MaxBodyBytes is refused (the largest batch would never fit).
	SenderQuota int64
	// RecordWindow is how far a record's time may lie from the receipt
	// time before the record is stored flagged FlagTimeOutsideWindow; 0
	// means 15 minutes.
	RecordWindow time.Duration
	// UnauthConnsPerClient caps the connections one client address (an
	// IPv6 one by its /64) holds before it has authenticated; 0 means 8.
	UnauthConnsPerClient int
	// MaxConns caps the connections open at once, authenticated or not;
	// 0 means DefaultMaxConns. More are closed as they arrive. Either is
	// lowered to fit the open-files limit (fitConns).
	MaxConns int
	// UnauthTimeout bounds how long a connection may take to send an
	// authenticated request; 0 means 5 s.
	UnauthTimeout time.Duration
	Now           func() time.Time // clock; nil means time.Now
	Log           *zerolog.Logger
	// Metrics, when set, writes more series of the process (the
	// detection's ticket outbox) to /metrics, after the collector's own.
	Metrics func(io.Writer)
}

// Reasons a batch is rejected, as counted in /metrics.
const (
	rejectUnauthenticated = iota
	rejectMediaType
	rejectTooLarge
	rejectMalformed
	rejectStore
	rejectMethod
	rejectNotFound
	rejectBusy
	rejectNotBound
	rejectOutsideWindow
	rejectQuota
	rejectSendersFull
	rejectIncomplete
	numRejects
)

var rejectNames = [numRejects]string{"unauthenticated", "unsupported_media_type", "too_large",
	"malformed", "store_error", "method_not_allowed", "not_found", "busy", "tenant_not_bound", "outside_window", "quota", "cert_senders_full", "incomplete"}

// Collector is the HTTP front of a Store: it accepts OTLP/HTTP logs at
// POST /v1/logs (protobuf or JSON, optionally gzip), acknowledges a batch
// only once the store has fsync'd it, and serves GET /healthz and GET
// /metrics (to senders only; MetricsHandler serves it to anyone). It is
// safe for concurrent use.
type Collector struct {
	store   *Store
	cfg     Config
	tokens  []senderDigest
	log     zerolog.Logger
	reqSeq  atomic.Uint64
	rejects [numRejects]atomic.Uint64
	conns   connLimiter
	// inflight is the budget of MaxInflightBytes.
	inflight inflightBudget
	// slots are the decode slots (decodeSlots of them) not taken.
	slots chan *decodeSlot
	// bound are the tenants of the senders bound to some (binding.go).
	bound map[string]map[string]struct{}
	// boundList is each bound sender's tenants, sorted, comma-separated,
	// as its batches' entries record them.
	boundList map[string]string

	// fullLogged is when a refusal of a new certificate sender
	// (cert_senders_full) was last logged, in Unix nanoseconds: one line
	// a minute at most.
	fullLogged atomic.Int64

	notBoundMu     sync.Mutex           // guards the following field
	notBoundLogged map[string]time.Time // when a refusal of a sender was last logged

	quota quota // SenderQuota, per sender (quota.go)

	// storeDown is set by the first of a run of failed appends, which is
	// logged as an error, and cleared by the next that succeeds
	// (logAppendFailed).
	storeDown atomic.Bool

	// serverLog is the ErrorLog of the intake and metrics servers
	// (internal/serverlog: counted, one JSON line a second).
	serverLog *serverlog.Log
}

// New returns a Collector storing into store.
func New(store *Store, cfg Config) (*Collector, error) {
	if cfg.Token == "" && len(cfg.Tokens) == 0 && !cfg.ClientCertAuth {
		return nil, errors.New("collector: collector needs a token or client certificate authentication")
	}
	tokens, err := senderDigests(cfg)
	if err != nil {
		return nil, err
	}
	setDefault(&cfg.MaxBodyBytes, 16<<20)
	setDefault(&cfg.MaxInflightBytes, max(8*cfg.MaxBodyBytes, 2*maxRequestHold(cfg.MaxBodyBytes)))
	if most := maxRequestHold(cfg.MaxBodyBytes); cfg.MaxInflightBytes < 2*most {
		return nil, fmt.Errorf("collector: the in-flight budget of %d bytes (MaxInflightBytes, --max-inflight-bytes) cannot hold one batch of the largest size, %d bytes (MaxBodyBytes, --max-batch-bytes), read through gzip, in the half of it one sender may hold: that takes %d; such a batch would be refused busy every time", cfg.MaxInflightBytes, cfg.MaxBodyBytes, 2*most)
	}
	switch {
	case cfg.SenderQuota == 0:
		cfg.SenderQuota = max(DefaultSenderQuota, cfg.MaxBodyBytes)
	case cfg.SenderQuota > 0 && cfg.SenderQuota < cfg.MaxBodyBytes:
		return nil, fmt.Errorf("collector: the sender quota of %d bytes a minute (SenderQuota, --sender-quota) is less than the largest batch, %d bytes (MaxBodyBytes, --max-batch-bytes): such a batch would be refused every time", cfg.SenderQuota, cfg.MaxBodyBytes)
	}
	setDefault(&cfg.RecordWindow, 15*time.Minute)
	setDefault(&cfg.UnauthConnsPerClient, 8)
	setDefault(&cfg.UnauthTimeout, 5*time.Second)
	if cfg.Limits.MaxDecodedBytes <= 0 {
		cfg.Limits.MaxDecodedBytes = int(min(2*cfg.MaxBodyBytes, math.MaxInt32))
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Collector{store: store, cfg: cfg, tokens: tokens, log: zerolog.Nop(),
		bound: senderBindings(cfg), notBoundLogged: map[string]time.Time{}}
	c.boundList = boundLists(c.bound)
	c.quota = quota{perMinute: max(cfg.SenderQuota, 0), buckets: map[string]*quotaBucket{}}
	c.inflight.max = cfg.MaxInflightBytes
	c.slots = make(chan *decodeSlot, decodeSlots)
	for range decodeSlots {
		c.slots <- new(decodeSlot)
	}
	if cfg.Log != nil {
		c.log = *cfg.Log
	}
	c.serverLog = serverlog.New(c.log, cfg.Now, "collector connection error (net/http; an accept error is retried)")
	fitted, err := fitConns(cfg.MaxConns, c.log)
	if err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	c.cfg.MaxConns = fitted
	c.conns.init(cfg.UnauthConnsPerClient, c.cfg.MaxConns, senderConns(cfg, c.cfg.MaxConns))
	return c, nil
}

// MaxConns is the connection cap in force: Config.MaxConns, or its
// default, fitted to the open-files limit.
func (c *Collector) MaxConns() int { return c.cfg.MaxConns }

// ServeHTTP routes collector requests.
func (c *Collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/logs" && !c.conns.isAuthenticated(r.Context()) {
		// A probe or a scrape is answered, but its connection does not
		// stay open to idle on a slot of its address (issue 21 item 9).
		w.Header().Set("Connection", "close")
		defer BoundDrain(w)
	}
	switch r.URL.Path {
	case "/v1/logs":
		c.ingest(w, r)
	case "/healthz":
		if c.readOnly(w, r) {
			c.writeHealth(w, false)
		}
	case "/readyz":
		if c.readOnly(w, r) {
			c.writeReady(w, false)
		}
	case "/metrics":
		// Counts of batches, senders' rejects and refused connections
		// are for the operator: the intake listener faces every sender
		// network, so a scrape there needs a sender's credential, and
		// MetricsHandler serves one without on a listener of its own.
		if c.sender(r) == "" {
			c.unauthorized(w, r)
			return
		}
		if c.readOnly(w, r) {
			c.writeMetrics(w)
		}
	default:
		c.fail(w, r, rejectNotFound, http.StatusNotFound, "not_found", "no such endpoint")
	}
}

// ingest handles one OTLP export request. The sender is checked before
// anything else (the method included), so that every answer to a request
// that did not authenticate is the 401 that closes its connection.
func (c *Collector) ingest(w http.ResponseWriter, r *http.Request) {
	sender := c.sender(r)
	if sender == "" {
		c.unauthorized(w, r)
		return
	}
	if !c.conns.authenticated(r.Context(), sender) {
		c.senderBusy(w, r, sender)
		return
	}
	if r.Method != http.MethodPost {
		c.fail(w, r, rejectMethod, http.StatusMethodNotAllowed, "method_not_allowed", "use POST")
		return
	}
	format, charset, ok := batchFormat(r.Header.Get("Content-Type"))
	if !ok {
		msg := "send application/x-protobuf or application/json"
		if charset != "" {
			msg = "charset " + strconv.Quote(cut(charset, 32)) + " is not supported: send UTF-8 (charset=utf-8, or none)"
		}
		c.fail(w, r, rejectMediaType, http.StatusUnsupportedMediaType, "unsupported_media_type", msg)
		return
	}
	buf := ingestPool.Get().(*ingestBuffers)
	hold := bodyHold{budget: &c.inflight, sender: c.inflight.share(sender)}
	// The body is the request's until the append returns (the decoded
	// records do not alias it, but the buffer is the request's until it
	// goes back to the pool), and so is its reservation.
	defer hold.release()
	defer buf.release()
	body, status, err := c.readBody(w, r, buf, &hold)
	if errors.Is(err, errBusy) {
		c.busy(w, r)
		return
	}
	if err != nil {
		reason, code := rejectMalformed, "bad_request"
		switch status {
		case http.StatusRequestEntityTooLarge:
			reason, code = rejectTooLarge, "batch_too_large"
		case http.StatusRequestTimeout:
			reason, code = rejectIncomplete, "incomplete_batch"
		}
		c.fail(w, r, reason, status, code, err.Error())
		return
	}
	if err := c.store.AdmitsSender(sender); err != nil {
		c.sendersFull(w, r, err)
		return
	}
	if wait, ok := c.quota.take(sender, int64(len(body)), c.cfg.Now()); !ok {
		c.overQuota(w, r, sender, int64(len(body)), wait)
		return
	}
	// A batch is decoded and appended holding a decode slot: the
	// requests waiting for the store hold their bodies (reserved above),
	// not decoded batches as well.
	slot, err := c.takeDecodeSlot(r.Context())
	if err != nil {
		return // the client left while it waited
	}
	defer c.giveDecodeSlot(slot)
	b, err := decodeBatchInto(r.Context(), body, format, c.cfg.Limits, slot.records)
	slot.decoded(b, err)
	switch {
	case errors.Is(err, ErrBatchTooLarge):
		c.fail(w, r, rejectTooLarge, http.StatusRequestEntityTooLarge, "batch_too_large", err.Error())
		return
	case err != nil:
		c.fail(w, r, rejectMalformed, http.StatusBadRequest, "malformed_batch", err.Error())
		return
	}
	// Its records count at least what an empty record stores
	// (quota.takeRecords), and once stored it is charged what its entry
	// took of the disk beyond that (quota.charge). What is charged stays
	// charged when the batch is refused for what it is (malformed, too
	// large, a tenant its sender is not bound to, older than the window):
	// its sender spent it. A duplicate is given back
	// what its records would store, as it stores none, and keeps its
	// bytes, so that replaying one stored batch is not decoded without
	// end; a batch the store could not take is given back all, as its
	// sidecar sends it again (TestSenderQuotaGivenBackWhenNotStored).
	more, wait, ok := c.quota.takeRecords(sender, int64(len(body)), len(b.Records), c.cfg.Now())
	if !ok {
		c.overQuota(w, r, sender, min(max(int64(len(body)), int64(len(b.Records))*minRecordCharge), c.quota.perMinute), wait)
		return
	}
	c.admitBatch(b, sender, c.cfg.Now())
	if tenant, refused := c.notBoundTenant(sender, b); refused {
		c.notBound(w, r, sender, tenant, b)
		return
	}
	b.BoundTenants = c.boundList[sender]
	b.Replay = replayToken(r.Header.Get(audit.HeaderReplay))
	err = c.store.AppendBatch(b)
	if errors.Is(err, ErrBatchTooLarge) {
		c.fail(w, r, rejectTooLarge, http.StatusRequestEntityTooLarge, "batch_too_large", err.Error())
		return
	}
	if errors.Is(err, ErrTooManySenders) {
		c.sendersFull(w, r, err)
		return
	}
	if errors.Is(err, ErrBatchOutsideWindow) {
		c.fail(w, r, rejectOutsideWindow, http.StatusConflict, "batch_outside_window",
			fmt.Sprintf("batch %q of sender %s is older than the %d batches of its instance the collector tells apart; it was not stored", b.ID, sender, dedupWindow))
		return
	}
	if dup := (*DuplicateBatchError)(nil); errors.As(err, &dup) {
		// A sidecar whose attempt timed out asks, with the batch's first
		// record under the same id, how many of its records are stored
		// (audit: settleLate).
		held := "unknown"
		if dup.Records >= 0 {
			held = strconv.Itoa(dup.Records)
		}
		w.Header().Set(audit.HeaderDuplicate, held)
		if dup.StoredBy != "" {
			w.Header().Set(audit.HeaderStoredBy, dup.StoredBy)
		}
		c.quota.giveBack(sender, more, c.cfg.Now())
	} else if err != nil {
		c.quota.giveBack(sender, int64(len(body))+more, c.cfg.Now())
		c.logAppendFailed(err, b.ID)
		c.fail(w, r, rejectStore, http.StatusServiceUnavailable, "store_unavailable", "the batch was not stored; retry")
		return
	}
	if err == nil {
		if c.storeDown.Load() && c.storeDown.CompareAndSwap(true, false) {
			c.log.Info().Msg("audit store takes appends again: batches are stored and acknowledged")
		}
		// What its entry took of the disk, beyond what was taken.
		c.quota.charge(sender, b.stored-int64(len(body))-more, c.cfg.Now())
	}
	writeExportResponse(w, format)
}

// replayToken reads a sidecar's audit.HeaderReplay: 16 hex digits, not
// all zero; 0 for none or anything else.
func replayToken(v string) uint64 {
	if len(v) != 16 {
		return 0
	}
	n, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		return 0
	}
	return n
}

// logAppendFailed logs a failed append of batch id: the first of a run
// of failures as one error line saying what the collector does until an
// append succeeds, and, for a read-only filesystem (the kernel makes one
// so on a disk error), that it is one and what to do; the rest of the run
// at debug level. A line a batch at error level, as many as the senders
// retried, hid the first, and none said the filesystem was read-only
// (TestCollectorStoreTurnedReadOnly).
func (c *Collector) logAppendFailed(err error, id string) {
	if !c.storeDown.CompareAndSwap(false, true) {
		c.log.Debug().Err(err).Str("batch_id", id).Msg("audit store append failed")
		return
	}
	msg := "audit store append failed: batches are answered 503 store_unavailable (their senders spool them) and /readyz fails until an append succeeds; further failures are logged at debug level"
	if errors.Is(err, syscall.EROFS) {
		msg = "audit store append failed: the store is on a read-only filesystem (the kernel makes one read-only on a disk error; check its log); batches are answered 503 store_unavailable (their senders spool them) and /readyz fails until it is writable again; further failures are logged at debug level"
	}
	c.log.Error().Err(err).Str("batch_id", id).Msg(msg)
}

// RunMaintenance calls Maintain every interval until ctx ends, reporting
// errors to onErr (which may be nil).
func (s *Store) RunMaintenance(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := s.Maintain(now); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// setDefault sets *v to def when it is zero or negative.
func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
