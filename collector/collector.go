package collector

import (
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
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
		c.writeHealth(w, false)
	case "/readyz":
		c.writeReady(w, false)
	case "/metrics":
		// Counts of batches, senders' rejects and refused connections
		// are for the operator: the intake listener faces every sender
		// network, so a scrape there needs a sender's credential, and
		// MetricsHandler serves one without on a listener of its own.
		if c.sender(r) == "" {
			c.unauthorized(w, r)
			return
		}
		c.writeMetrics(w)
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
	format, ok := batchFormat(r.Header.Get("Content-Type"))
	if !ok {
		c.fail(w, r, rejectMediaType, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/x-protobuf or application/json")
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

// busy answers 503 collector_busy, at once, to a request whose body
// would take more than the in-flight budget has left, and closes its
// connection: what is left of the body is read for at most closeDrain
// (BoundDrain), not until the read timeout as a stalled sender would have
// it. The sender retries after Retry-After, from its spool.
func (c *Collector) busy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Connection", "close")
	c.fail(w, r, rejectBusy, http.StatusServiceUnavailable, "collector_busy",
		fmt.Sprintf("the batches being read hold the collector's in-flight budget of %d bytes (--max-inflight-bytes); retry", c.cfg.MaxInflightBytes))
	BoundDrain(w)
}

// BoundDrain bounds to closeDrain the read of what is left of the
// request's body once w's answer is written, on a connection the answer
// closes (Connection: close); call it when the handler is done reading.
// The server writes the answer, then reads what is left of the body (up
// to 256 KiB) so that closing the connection does not reset it under an
// answer the client has yet to read; without a deadline that read waited
// the read timeout (1 min) on a client that declared a body and sent
// none, which so held its connection, unauthenticated too, for a minute
// after its 401 (TestUnauthenticatedDeclaredBodyDoesNotHoldConnection).
func BoundDrain(w http.ResponseWriter) {
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(closeDrain))
}

// closeDrain is how long the rest of a body is read (and discarded)
// after an answer that closes its connection.
const closeDrain = 500 * time.Millisecond

// senderConns is the most connections one sender holds: half of
// maxConns when another sender can send (a second token, client
// certificates), as one sender holds at most half the in-flight budget;
// no cap (0) when only one sender can, whose connections are all there is.
func senderConns(cfg Config, maxConns int) int {
	tokens := len(cfg.Tokens)
	if cfg.Token != "" {
		tokens++
	}
	if tokens < 2 && !cfg.ClientCertAuth {
		return 0
	}
	return max(maxConns/2, 1)
}

// senderBusy answers 503 collector_busy, and closes the connection, to a
// sender that authenticated on a new connection while it holds its share
// of --max-conns: it sends on those it holds.
func (c *Collector) senderBusy(w http.ResponseWriter, r *http.Request, sender string) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Connection", "close")
	c.fail(w, r, rejectBusy, http.StatusServiceUnavailable, "collector_busy",
		fmt.Sprintf("sender %s holds %d connections, its share of the collector's %d (--max-conns); send on those", sender, c.conns.perSender, c.cfg.MaxConns))
	BoundDrain(w)
}

// writeHealth answers /healthz, the collector's liveness: {"status":"ok"},
// or "degraded" with whether the store takes appends ("storing": false
// while they fail, a full disk or an unwritable store) and, when detail
// is set, why and the anchors signed heads are withheld from. It stays
// 200: a liveness probe that restarted the collector would find the disk
// as full, or the collector refusing to start on that anchor
// (CheckAnchors); /readyz is what fails (writeReady). The intake
// listener, which every sender network reaches, leaves the anchors and
// the store's error out: they name the anchor's file path or etcd key
// and the heads there, and the store's paths
// (TestHealthOnIntakeNamesNoAnchorToAnonymous).
func (c *Collector) writeHealth(w http.ResponseWriter, detail bool) {
	w.Header().Set("Content-Type", "application/json")
	probs, sh := c.store.AnchorProblems(), c.store.Health()
	if len(probs) == 0 && !sh.Failing() && !sh.HeadFailing() {
		io.WriteString(w, `{"status":"ok"}`)
		return
	}
	if !detail {
		io.WriteString(w, `{"status":"degraded","storing":`+strconv.FormatBool(!sh.Failing())+`,"heads_published":`+strconv.FormatBool(!sh.HeadFailing())+`}`)
		return
	}
	var since, headSince *time.Time
	if sh.Failing() {
		since = &sh.FailingSince
	}
	if sh.HeadFailing() {
		headSince = &sh.HeadFailingSince
	}
	json.NewEncoder(w).Encode(struct {
		Status         string          `json:"status"`
		Storing        bool            `json:"storing"`
		HeadsPublished bool            `json:"heads_published"`
		FailingSince   *time.Time      `json:"store_failing_since,omitempty"`
		StoreError     string          `json:"store_error,omitempty"`
		HeadSince      *time.Time      `json:"head_failing_since,omitempty"`
		HeadError      string          `json:"head_error,omitempty"`
		Anchors        []AnchorProblem `json:"anchors_withheld,omitempty"`
	}{"degraded", !sh.Failing(), !sh.HeadFailing(), since, sh.LastError, headSince, sh.HeadError, probs})
}

// writeReady answers /readyz as the sidecar's does: "ready" (200) or "not
// ready" (503), then one line per check. The collector is not ready while
// its store refuses appends (every batch would get 503 store_unavailable;
// senders spool them), and the store is probed then (Store.Probe), so a
// collector that no batch reaches while it is out of its Service's
// endpoints becomes ready again once the disk has room. Anchors signed
// heads are withheld from, and a head that could not be signed or
// published, leave it ready (it stores every batch) and are named.
// detail as for writeHealth. Before, the collector had /healthz
// alone, which answered 200 on a full disk (TestCollectorReadyzOnFullDisk).
func (c *Collector) writeReady(w http.ResponseWriter, detail bool) {
	if c.store.Health().Failing() {
		c.store.Probe()
	}
	sh, probs := c.store.Health(), c.store.AnchorProblems()
	store := "store: ok, storing"
	if sh.Failing() {
		store = "store: FAIL, appends failing since " + sh.FailingSince.UTC().Format(time.RFC3339) + " (batches answered 503 store_unavailable and spooled by their senders)"
		if detail {
			store += ": " + sh.LastError
		}
	}
	anchors := "anchors: ok, signed heads published to every anchor"
	if len(probs) > 0 {
		anchors = "anchors: ok, signed heads withheld from " + strconv.Itoa(len(probs)) + " anchors (a rollback of the store is no longer caught there)"
		for _, p := range probs {
			if detail { // the intake listener names no anchor (writeHealth)
				anchors += "; " + p.Where + ": " + p.Problem
			}
		}
	}
	if sh.HeadFailing() {
		// Ready still: the batches are stored, and out of its Service's
		// endpoints the collector would publish no better.
		anchors = "anchors: FAIL, signing or publishing the head failing since " + sh.HeadFailingSince.UTC().Format(time.RFC3339) +
			" (the anchors hold an older head: a cut of the batches stored since passes verify against them)"
		if detail { // the error names the anchor's etcd key or file (writeHealth)
			anchors += ": " + sh.HeadError
		}
		if len(probs) > 0 {
			anchors += "; signed heads withheld from " + strconv.Itoa(len(probs)) + " anchors"
		}
		for _, p := range probs {
			if detail {
				anchors += "; " + p.Where + ": " + p.Problem
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if sh.Failing() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "not ready\n"+store+"\n"+anchors+"\n")
		return
	}
	io.WriteString(w, "ready\n"+store+"\n"+anchors+"\n")
}

// unauthorized answers 401 and closes the connection.
func (c *Collector) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="portcullis-collector"`)
	w.Header().Set("Connection", "close")
	c.fail(w, r, rejectUnauthenticated, http.StatusUnauthorized, "unauthenticated", "a valid bearer token or client certificate is required")
	BoundDrain(w)
}

// MetricsHandler serves /metrics, /healthz and /readyz without authentication, for
// a listener of their own that only the monitoring network reaches
// (portcullis collector --metrics-listen).
func (c *Collector) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			c.writeMetrics(w)
		case "/healthz":
			c.writeHealth(w, true)
		case "/readyz":
			c.writeReady(w, true)
		default:
			c.fail(w, r, rejectNotFound, http.StatusNotFound, "not_found", "no such endpoint")
		}
	})
}

func batchFormat(contentType string) (string, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", false
	}
	switch mt {
	case FormatProtobuf, "application/protobuf":
		return FormatProtobuf, true
	case FormatJSON:
		return FormatJSON, true
	}
	return "", false
}

// readBody reads the (possibly gzip) body up to MaxBodyBytes into buf's
// body buffer, reserving in hold the memory it holds: the pooled buffer's
// capacity, every growth and a gzip reader. A reservation over the
// in-flight budget ends the read with errBusy.
func (c *Collector) readBody(w http.ResponseWriter, r *http.Request, buf *ingestBuffers, hold *bodyHold) ([]byte, int, error) {
	if r.ContentLength > c.cfg.MaxBodyBytes {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("batch of %d bytes exceeds the %d byte limit", r.ContentLength, c.cfg.MaxBodyBytes)
	}
	limit := c.cfg.MaxBodyBytes + 1 // the byte more tells a body over the limit
	if int64(cap(buf.body)) > limit || !hold.take(int64(cap(buf.body))) {
		// A pooled buffer this request cannot need, or cannot have: it
		// is left to the collector, and the body read into a new one.
		buf.body = nil
	}
	buf.wire = wireBody{r: r.Body}
	var src io.Reader = http.MaxBytesReader(w, &buf.wire, c.cfg.MaxBodyBytes)
	hint := r.ContentLength
	// Content codings are case-insensitive, and x-gzip is gzip (RFC 9110
	// section 8.4.1): "GZIP" was answered 400, which a sender drops its
	// batch on (read100, TestContentCodingAnyCase).
	enc := r.Header.Get("Content-Encoding")
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "", "identity":
	case "gzip", "x-gzip":
		hint = 0 // the length is the compressed one
		if !hold.take(gzipReaderBytes) {
			return nil, http.StatusServiceUnavailable, errBusy
		}
		zr, err := gzip.NewReader(src)
		if err != nil && buf.wire.err != nil {
			return nil, http.StatusRequestTimeout, incomplete(buf.wire.err)
		}
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("cannot read gzip body: %w", err)
		}
		src = zr
	default:
		return nil, http.StatusBadRequest, fmt.Errorf("unsupported content encoding %q", enc)
	}
	body, err := readAll(buf.body[:0], src, hint, limit, hold)
	buf.body = body
	if errors.Is(err, errBusy) {
		return nil, http.StatusServiceUnavailable, err
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || int64(len(body)) > c.cfg.MaxBodyBytes {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("batch exceeds the %d byte limit", c.cfg.MaxBodyBytes)
	}
	if err != nil && buf.wire.err != nil {
		return nil, http.StatusRequestTimeout, incomplete(buf.wire.err)
	}
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("cannot read body: %w", err)
	}
	return body, http.StatusOK, nil
}

// wireBody is a request's body as the connection gives it, noting the
// error that ended its reads short: a read timeout, or the sender gone
// mid-body. readBody tells such a body, which is incomplete, from one that
// arrived whole and does not parse (malformed) by it: a gzip stream cut
// short fails the same way in both.
type wireBody struct {
	r   io.ReadCloser
	err error
}

func (b *wireBody) Close() error { return b.r.Close() }

func (b *wireBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if cutShort(err) {
		b.err = err
	}
	return n, err
}

// cutShort reports whether a body read error says the body stopped
// before its end: the connection's (a read timeout, a reset), or an end
// of the connection before the declared length or the last chunk
// (io.ErrUnexpectedEOF). A chunked body's broken framing ("invalid byte
// in chunk length", a bare LF) is the sender's bytes, malformed: taken for
// incomplete, it was answered 408 and retried for ever, and kept off
// PortcullisAuditBatchesMalformed (TestBrokenChunkFramingIsMalformed).
func cutShort(err error) bool {
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne)
}

// incomplete is the error of a body whose sender stopped mid-body. It is
// answered 408, which the sidecar retries (it dropped a batch answered
// 400), and counted as rejects reason "incomplete", not "malformed": a
// slow network is no broken or hostile sender
// (TestIncompleteBodyNotMalformed).
func incomplete(err error) error {
	return fmt.Errorf("the batch's body ended before its end (the sender timed out or went away mid-body; retry): %w", err)
}

// writeExportResponse answers an empty ExportLogsServiceResponse (full
// success) in the request's format.
func writeExportResponse(w http.ResponseWriter, format string) {
	w.Header().Set("Content-Type", format)
	if format == FormatJSON {
		io.WriteString(w, "{}")
	}
}

// fail writes the JSON error shape every Portcullis component answers with.
func (c *Collector) fail(w http.ResponseWriter, r *http.Request, reason, status int, code, msg string) {
	c.rejects[reason].Add(1)
	id := r.Header.Get("X-Request-ID")
	if !wellFormedID(id) {
		id = "col-" + strconv.FormatUint(c.reqSeq.Add(1), 10)
	}
	writeError(w, status, code, msg, id)
}

// WriteError writes the JSON error shape every Portcullis component
// answers with, for handlers served beside the intake (the Alertmanager
// webhook): its request_id is the request's X-Request-ID when well formed,
// else id.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, msg, id string) {
	if rid := r.Header.Get("X-Request-ID"); wellFormedID(rid) {
		id = rid
	}
	writeError(w, status, code, msg, id)
}

// writeError writes the JSON error shape with request id id.
func writeError(w http.ResponseWriter, status int, code, msg, id string) {
	buf := appendStringField(make([]byte, 0, 128), `{"error":`, code)
	buf = appendStringField(buf, `,"message":`, msg)
	buf = appendStringField(buf, `,"request_id":`, id)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-ID", id)
	w.WriteHeader(status)
	w.Write(append(buf, "}\n"...))
}

func wellFormedID(id string) bool {
	if id == "" || len(id) > audit.MaxRequestID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// writeMetrics writes the counters in the Prometheus text format.
func (c *Collector) writeMetrics(w http.ResponseWriter) {
	st := c.store.Stats()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	metric := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	metric("portcullis_collector_batches_total", "Audit batches stored.", st.Batches)
	metric("portcullis_collector_records_total", "Audit records stored.", st.Records)
	metric("portcullis_collector_counts_not_believed_total", "Records stored with a count reports do not take as written: a count on a record the sidecar never aggregates (allowed, or naming who called, other than a client's rate_limited naming a token bucket or concurrency_limited naming an in-flight cap, answered 429 and naming a tenant), taken as one request; past its ceiling (65,536, the most a sidecar folds into one), taken as 65,536; or past its sender's ceiling for its second (65,536,000), flagged count_past_sender_ceiling and taken as one.", st.CountsNotBelieved)
	metric("portcullis_collector_duplicates_total", "Batches acknowledged without storing because their id was stored before.", st.Duplicates)
	metric("portcullis_collector_events_total", "Lifecycle events stored.", st.Events)
	metric("portcullis_collector_expired_segments_total", "Segments deleted by retention.", st.Expired)
	metric("portcullis_collector_events_unverified_total", "Lifecycle events stored marked unverified: the change they describe is not in their etcd transaction.", st.Unverified)
	metric("portcullis_collector_event_duplicates_total", "Lifecycle events not stored again (same etcd key and revision).", st.EventDuplicates)
	metric("portcullis_collector_breaks_recorded_total", "Breaks this process recorded in the audit chain at its start (newest entries cut, the head deleted or forked, entries it could not vouch for, a rollback accepted): audit verify fails from each on; see the collector's log.", st.Breaks)
	metric("portcullis_collector_deferred_total", "Failures after an entry was stored (head, rotation), retried on the next append.", st.Deferred)
	metric("portcullis_collector_connections_refused_total", "Connections closed because their client address (an IPv6 one by its /64) held too many unauthenticated ones.", c.conns.refused.Load())
	metric("portcullis_collector_connection_errors_total", "Connection errors net/http reported on the collector's listeners: failed TLS handshakes, and accept errors it retried (too many open files); logged at most once a second.", c.serverLog.Errors())
	metric("portcullis_collector_connections_capped_total", "Connections closed because the collector held --max-conns open connections.", c.conns.capped.Load())
	gauge := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	gauge("portcullis_collector_connections_open", "Connections open on the intake listener (at most --max-conns).", int64(c.conns.open()))
	gauge("portcullis_collector_anchors_withheld", "Anchors (etcd, --publish-head) signed heads are not published to, because the store does not hold the head published there (rolled back or forked) or another collector's head replaced this one's there (see the collector's log and /healthz).", int64(st.AnchorsWithheld))
	metric("portcullis_collector_head_conflicts_total", "Publications of the signed head refused because another collector's head (another chain's) replaced this collector's at an anchor: two collectors publish to one etcd prefix or file.", st.HeadConflicts)
	metric("portcullis_collector_store_probes_total", "Probes of a store refusing appends, asked by /readyz (at most one a second; others answer from the last).", st.Probes)
	metric("portcullis_collector_head_publish_failures_total", "Rounds of signing the store's head (every --sign-every) that failed to sign it or to publish it to an anchor (etcd, --publish-head); see the collector's log.", st.HeadFailures)
	published := int64(0)
	if !st.HeadPublished.IsZero() {
		published = st.HeadPublished.Unix()
	}
	gauge("portcullis_collector_head_published_timestamp_seconds", "When a signed head was last published to every anchor (0: not yet by this process); alert when it falls behind --sign-every.", published)
	metric("portcullis_collector_outside_window_total", "Batches refused 409 batch_outside_window: their sequence lay below the deduplication window of their sender's instance.", st.OutsideWindow)
	gauge("portcullis_collector_inflight_bytes", "Memory held by the requests being read: body buffers (by capacity) and gzip readers.", c.inflight.held.Load())
	gauge("portcullis_collector_inflight_budget_bytes", "The most the requests being read may hold (--max-inflight-bytes); a request that would take more is answered 503 collector_busy.", c.cfg.MaxInflightBytes)
	const rej = "portcullis_collector_rejects_total"
	fmt.Fprintf(w, "# HELP %s Requests rejected, by reason.\n# TYPE %s counter\n", rej, rej)
	for i := range c.rejects {
		fmt.Fprintf(w, "%s{reason=%q} %d\n", rej, rejectNames[i], c.rejects[i].Load())
	}
	if c.cfg.Metrics != nil {
		c.cfg.Metrics(w)
	}
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
