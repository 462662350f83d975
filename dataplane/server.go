package dataplane

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/dataplane/authn"
	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// Sink receives one audit record per request. Swap takes r, never blocks,
// and returns the record the data plane fills next and whether r was
// captured: a captured r belongs to the sink from then on, and the record
// returned to the data plane (so a record is handed over, not copied); r
// is returned when it was not captured. Accepting reports whether a record
// emitted now would be captured (strict audit mode answers 503 when it
// would not). audit.FileWriter and audit.Emitter implement it.
type Sink interface {
	Swap(r *audit.Record) (*audit.Record, bool)
	Accepting() bool
}

// Config configures a Server. Store and Upstream are required; zero
// durations and sizes take the defaults in parentheses.
type Config struct {
	Store    *policy.Store
	Upstream string // host:port of the service; the only address ever dialled
	Audit    Sink   // nil: records are counted as dropped
	Watching bool   // the Store is fed by a watch: enforce the policy staleness bound
	Logger   zerolog.Logger

	HeaderTimeout   time.Duration // request line and headers, from their first byte (10s)
	ReadTimeout     time.Duration // request body, after the headers (30s)
	WriteTimeout    time.Duration // whole response (30s)
	IdleTimeout     time.Duration // keep-alive idle (60s)
	UpstreamTimeout time.Duration // upstream response (30s)
	MaxHeaderBytes  int           // request line and headers (16 KiB), more is 431; the service's response head too, more is 502
	MaxBodyBytes    int           // hard cap above every class limit (64 MiB)
	MaxUpstreamConn int           // connections to the upstream (1024); public routes hold at most a quarter of them unless the policy says otherwise (limit.go)
	MaxConns        int           // open client connections per listener (10000, or fewer to fit the container's memory limit: memlimit.go); more are closed at accept
	MaxConnsPerIP   int           // open client connections from one address (1024)
	KeyCacheSize    int64         // verified API keys cached (authn.DefaultCacheEntries)
	LimiterKeys     int           // rate-limit buckets tracked (1<<20)
	TenantSeries    int           // tenants named on /metrics, the rest summed (DefaultTenantSeries; -1: none)
	// TokenFailures is each source address's budget of token verifications
	// that fail (20/s, burst 40): past it, a token not verified before is
	// refused unverified with 429 token_failures_limited (tokenbudget.go).
	TokenFailures limiter.Limit

	// TenantMaxInFlight caps one tenant's requests in flight in every
	// class, beside a class's own concurrency cap (half of
	// MaxUpstreamConn, at least 1), so that no tenant can hold the whole
	// upstream pool (limit.go).
	TenantMaxInFlight int

	// TLS, when set, serves TLS on the listener (tls.go), which Serve is
	// given plain: one whose connections are TLS already is refused
	// (ErrTLSListener).
	TLS *TLS

	// GlobalLimits makes tenant, tenant+class and limit.scope global client
	// limits deployment-wide: the data plane counts demand (Demand) and
	// admits the share pushed with SetShares (global.go, issue 17).
	GlobalLimits bool

	// UpstreamDial replaces the TCP dialer (in-memory upstreams in tests).
	UpstreamDial fasthttp.DialFunc

	// Approvals counts the uses of approvals for the routes that require
	// one (approval.go); nil refuses every such request.
	Approvals ApprovalLedger
	// EtcdPrefix is the etcd prefix the Store is fed from ("" with a
	// policy file). portcullis_policy_revision and _digest carry it as
	// the label etcd_prefix: pods of one scrape job on different prefixes
	// enforce different policies, and the alert comparing their states
	// must compare only pods of one prefix.
	EtcdPrefix string
	// KeyClock is the clock API key ages are judged by (lifecycle.max_key_age
	// and the rotation metrics), and the expiry of the client certificate
	// of a connection kept alive; nil: the request's arrival time, read
	// once per request anyway. Tests simulate time with it.
	KeyClock func() time.Time
	// Clock, when set, is the wall clock of the request path instead of
	// the request's arrival time: the audit record's time, key validity
	// and age, token age, approval use. The rate limiter and durations
	// keep the monotonic clock, and policy staleness compares it with the
	// Store's confirmations (real time). Tests simulate a period of
	// activity over days with it; nil costs one comparison per request.
	Clock func() time.Time

	// secretCheck is how often the issuers' hmac_secret references are
	// read again (tests); 0 means secretCheck.
	secretCheck time.Duration
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HeaderTimeout, 10*time.Second)
	def(&c.ReadTimeout, 30*time.Second)
	def(&c.WriteTimeout, 30*time.Second)
	def(&c.IdleTimeout, 60*time.Second)
	def(&c.UpstreamTimeout, 30*time.Second)
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 16 << 10
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 20
	}
	if c.MaxUpstreamConn <= 0 {
		c.MaxUpstreamConn = 1024
	}
	if c.TenantMaxInFlight <= 0 {
		c.TenantMaxInFlight = max(c.MaxUpstreamConn/2, 1)
	}
	if c.MaxConns <= 0 {
		c.MaxConns = defaultMaxConns(c.TLS != nil)
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = 1024
	}
	if c.KeyCacheSize <= 0 {
		c.KeyCacheSize = authn.DefaultCacheEntries
	}
	if c.LimiterKeys <= 0 {
		c.LimiterKeys = 1 << 20
	}
	if c.TenantSeries == 0 {
		c.TenantSeries = DefaultTenantSeries
	}
	c.TenantSeries = max(c.TenantSeries, 0)
}

// Server is the enforcing reverse proxy: it runs the request path
// (docs/trust-boundary.md) on every request and forwards what it admits to the
// upstream.
// Create it with New; it is safe for concurrent use.
type Server struct {
	cfg      Config
	store    *policy.Store
	keys     *authn.Keys
	buckets  *limiter.Table
	inflight *limiter.Concurrency
	tokens   tokenBudget  // failed token verifications per source (tokenbudget.go)
	public   atomic.Int64 // requests of public routes in flight (limit.go)
	upstream *origin
	ups      upConns                  // the upstream connections open, which Shutdown cuts when its time runs out
	ln       atomic.Pointer[listener] // what Serve accepts on: its count of client connections open
	srv      *fasthttp.Server
	metrics  metrics
	log      zerolog.Logger
	upLog    logGate // upstream failures: one line a second (upstream.go)

	certs       *certReloader            // nil without TLS
	prepared    atomic.Pointer[prepared] // built by prepare before each policy swap
	unprepare   func()                   // removes prepare from the Store
	stopSecrets context.CancelFunc       // ends watchSecrets
	share       shareState               // global limits (global.go)

	// overflowFlight holds the in-flight counts of the tenants past the
	// metric cells, by tenant id, while a policy names them (limit.go,
	// tenantFlights); the writer's, under share.swapMu.
	overflowFlight map[string]*atomic.Int64

	reqPrefix [9]byte // random per process, for generated request ids
	reqSeq    atomic.Uint64
	clock     clock
	stopping  atomic.Bool
	// refusal is the wait of Serve refusing a TLS listener
	// (ErrTLSListener), in fasthttp's Shutdown, for the connections it
	// had handed over: Shutdown ends it (endRefusal). refused says a
	// Serve refused one.
	refusal    context.Context
	endRefusal context.CancelFunc
	refused    atomic.Bool
	pool       sync.Pool // *exchange
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("dataplane: config has no policy store")
	}
	if !linesOK {
		// headerdel.go: without its mirror of fasthttp's header lines the
		// sidecar would reorder, fold cookies and miss trailers; a
		// fasthttp upgrade fails TestHeaderLinesLayout first.
		return nil, errors.New("dataplane: fasthttp's request header lines are not laid out as headerdel.go mirrors them; rebuild with the fasthttp of go.mod")
	}
	if _, _, err := net.SplitHostPort(cfg.Upstream); err != nil {
		return nil, fmt.Errorf("dataplane: upstream %q must be host:port: %w", cfg.Upstream, err)
	}
	sized := cfg.MaxConns <= 0
	cfg.defaults()
	if sized && cfg.MaxConns < 10000 {
		cfg.Logger.Info().Int("max_conns", cfg.MaxConns).Int64("memory_limit", memoryLimit()).Msg("client connections capped to fit the container's memory limit (--max-conns)")
	}
	fitted, err := fitConns(cfg.MaxConns, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	cfg.MaxConns = fitted
	if cfg.Approvals != nil {
		// The approval hold's lease was tied to the upstream timeout by a
		// comment only (TestApprovalHoldOutlastsUpstreamWait).
		if err := cfg.Approvals.Outlasts(ApprovalWait(cfg.UpstreamTimeout)); err != nil {
			return nil, fmt.Errorf("dataplane: %w", err)
		}
	}
	keys, err := authn.NewKeys(cfg.KeyCacheSize)
	if err != nil {
		return nil, fmt.Errorf("dataplane: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		store:    cfg.Store,
		keys:     keys,
		buckets:  limiter.NewTable(limiter.Config{MaxKeys: cfg.LimiterKeys}),
		inflight: limiter.NewConcurrency(limiter.ConcurrencyConfig{MaxKeys: cfg.LimiterKeys}),
		tokens:   newTokenBudget(cfg.TokenFailures),
		log:      cfg.Logger,
	}
	s.clock.wall = cfg.Clock
	s.refusal, s.endRefusal = context.WithCancel(context.Background())
	var rnd [4]byte
	rand.Read(rnd[:])
	hex.Encode(s.reqPrefix[:8], rnd[:])
	s.reqPrefix[8] = '-'
	s.metrics.tenantSeries = cfg.TenantSeries
	s.pool.New = func() any { return &exchange{rec: new(audit.Record)} }
	if cfg.TLS != nil {
		if s.certs, err = newCertReloader(*cfg.TLS, cfg.Logger, cfg.Audit, s.recovered); err != nil {
			keys.Close()
			return nil, err
		}
	}
	s.upstream = s.newUpstream()
	s.srv = s.newServer()
	s.unprepare = cfg.Store.AddPreparer(s.prepare)
	ctx, stop := context.WithCancel(context.Background())
	s.stopSecrets = stop
	go s.watchSecrets(ctx, cmp.Or(cfg.secretCheck, secretCheck))
	return s, nil
}

// newUpstream returns the pool to the service. The HostClient supplies
// dialling, the connection cap and idle expiry; the round trip is the
// origin type's own (see there for why), so the HostClient's request
// settings (timeouts, body size, retries) are unused and left unset.
func (s *Server) newUpstream() *origin {
	hc := &fasthttp.HostClient{
		Addr:     s.cfg.Upstream,
		Dial:     s.dialUpstream,
		MaxConns: s.cfg.MaxUpstreamConn,
		// The response head is read whole into this buffer: 4 KiB by
		// default, which a few cookies and a content security policy
		// outgrow (TestUpstreamResponseHeadUpToMaxHeaderBytes).
		ReadBufferSize:      s.cfg.MaxHeaderBytes,
		MaxIdleConnDuration: s.cfg.IdleTimeout,
		// At the cap, a request waits for a connection (up to the
		// upstream timeout) rather than failing at once: it waits for one
		// of the pool's slots first come first served (takeSlot), then
		// takes the connection released or dials one for the connection
		// closed; past the wait it gets ErrNoFreeConns (503
		// upstream_saturated, forward.go). HostClient never waits itself
		// (its queue can lose a wakeup: takeSlot). Requests of public routes are
		// capped below the pool (limit.go), so parties without a
		// credential cannot hold it all and queue every tenant behind them.
		MaxConnWaitTimeout: s.cfg.UpstreamTimeout,
	}
	return newUpstreamPool(hc, s.cfg.UpstreamTimeout, int64(s.cfg.MaxBodyBytes))
}

// newServer returns the fasthttp server. Its ReadTimeout runs from a
// request's first byte and is HeaderTimeout: it bounds the headers, and
// headerReceived gives a request with a body a fresh ReadTimeout for it,
// so that a client trickling its headers is cut off early (slowloris)
// and an upload is not.
func (s *Server) newServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               s.Handler,
		ErrorHandler:          s.errorHandler,
		HeaderReceived:        s.headerReceived,
		ExpectHandler:         s.expect, // expect.go: no 100 before authentication
		ConnState:             s.connState,
		ReadTimeout:           s.cfg.HeaderTimeout,
		WriteTimeout:          s.cfg.WriteTimeout,
		IdleTimeout:           s.cfg.IdleTimeout,
		ReadBufferSize:        s.cfg.MaxHeaderBytes,
		MaxRequestBodySize:    s.cfg.MaxBodyBytes,
		NoDefaultServerHeader: true,
		// ReduceMemoryUsage stays off: it would free a connection's read
		// and write buffers between requests (28 KiB idle, 2-5 KiB with
		// it), but each request then costs one more read(2), a one-byte
		// read before the buffered one (perf trace under wrk -c64: 3.5
		// reads per request against 2.5). Memory is bounded instead by
		// the connection cap sized to the memory limit (memlimit.go),
		// which counts a connection's buffers (TestIdleConnectionsFitTheirCost).
		NoDefaultContentType: true,
		CloseOnShutdown:      true,
		Logger:               fasthttpLogger{s.log, &s.metrics.panics},

		// Bodies go upstream byte for byte: pre-parsed multipart forms are
		// re-serialised (parts reordered, headers dropped), and errors
		// never quote request bytes (issue 12).
		DisablePreParseMultipartForm: true,
		SecureErrorLogMessage:        true,
	}
}

// ErrTLSListener is Serve's error for a listener whose connections are
// TLS already (a tls.NewListener's). The sidecar would see neither the
// bytes on the wire nor the handshake: no client certificate checked
// (mtls), no body refused before it is read, no request's framing
// followed, no wire accounting (tls.go). Its own TLS does all of them
// (Config.TLS, the --tls-cert flags): give Serve the plain listener.
var ErrTLSListener = errors.New("dataplane: Serve refuses a TLS listener (its connections TLS already, as tls.NewListener's are): " +
	"the sidecar would not see their bytes on the wire, so no client certificate would be checked nor any request's framing followed; " +
	"give Serve the plain TCP listener and the certificate in Config.TLS (the sidecar's own TLS, --tls-cert)")

// tlsListener is the type of tls.NewListener's listeners, refused by
// Serve before it accepts anything.
var tlsListener = reflect.TypeOf(tls.NewListener(nil, nil))

// Serve accepts connections on ln until Shutdown. A listener whose
// connections are TLS already is refused (ErrTLSListener): Serve closes
// it, a connection it handed over unread, logs so once and returns the
// error (TestServeRefusesCallerTLSListener), once the plain connections
// it had handed over before are closed, each after its answer in flight,
// or once Shutdown is called, which then waits for them within its
// deadline.
func (s *Server) Serve(ln net.Listener) error {
	if reflect.TypeOf(ln) == tlsListener {
		return s.refuseTLS(ln)
	}
	l := newListener(ln, s.cfg.MaxConns, s.cfg.MaxConnsPerIP, s.log)
	l.refuseTLS, l.onPanic = true, s.recovered
	s.ln.Store(l)
	if s.certs != nil {
		l.tls, l.certs = s.certs.config(), s.certs
	}
	err := s.srv.Serve(l)
	if errors.Is(err, ErrTLSListener) { // from Accept, another type's
		err = s.refuseTLS(l)
		// The plain connections it handed over before are served no
		// more: fasthttp's Serve returns with them still being served,
		// their requests forwarded by a Serve that had returned
		// (TestTLSRefusalStopsServingTheListener). Each closes after
		// the answer in flight, which is audited. fasthttp's Shutdown
		// waits for them holding its lock, which a Shutdown of the
		// caller's then waited for, past its deadline, while a request
		// was in flight: Shutdown ends this wait (endRefusal) and waits
		// for them itself, within its deadline
		// (TestShutdownHonoursDeadlineWhileServeRefusesTLS).
		s.refused.Store(true)
		s.srv.ShutdownWithContext(s.refusal)
	}
	return err
}

// refuseTLS closes ln, a listener handing connections that are TLS
// already, logs why and returns ErrTLSListener.
func (s *Server) refuseTLS(ln net.Listener) error {
	ln.Close()
	s.logged(s.log.Error().Str("listener", ln.Addr().String()), ErrTLSListener.Error())
	return ErrTLSListener
}

// ListenerTLS returns the listener's TLS configuration (the certificate,
// client CAs and CRLs in force, reloaded as they change), or nil without
// TLS: the legacy sidecar's held port (cmd/portcullis, --hold-port)
// answers over it once Serve has returned.
func (s *Server) ListenerTLS() *tls.Config {
	if s.certs == nil {
		return nil
	}
	return s.certs.config()
}

// Shutdown stops accepting, marks the server not ready, lets in-flight
// requests finish and closes keep-alive connections, or gives up when ctx
// ends (its error), cutting the requests still in flight: each is
// answered 502 and audited (cutInFlight). So too while Serve refuses a
// TLS listener and waits for the connections it had handed over
// (TestShutdownHonoursDeadlineWhileServeRefusesTLS).
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	s.endRefusal() // Serve refusing a TLS listener: its wait ends, releasing fasthttp's lock
	err := s.srv.ShutdownWithContext(ctx)
	if err == nil && s.refused.Load() {
		// fasthttp's shutdown ran in Serve (asked again, it has nothing
		// to wait for): the connections Serve's wait left open are
		// waited for here.
		err = s.drained(ctx)
	}
	if err != nil && ctx.Err() != nil {
		// The requests still in flight wait on the service. Their
		// upstream connections are cut, so each is answered (502) and
		// its audit record written before the caller closes the sink;
		// before, the sidecar exited under them and they were in no
		// record (TestDrainCutRequestIsAudited).
		s.cutInFlight()
	}
	if s.certs != nil {
		// Before the caller closes the audit sink: the summary of the
		// handshake refusals left out since the last tick (crl_audit.go).
		s.certs.refusals.flush(time.Now())
	}
	return err
}

// drained waits until the connections Serve's listener accepted are
// closed, or ctx ends (its error). The connections of another kind,
// which that listener does not count, are not waited for (cutInFlight
// logs them).
func (s *Server) drained(ctx context.Context) error {
	l := s.ln.Load()
	if l == nil {
		return nil
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for l.open.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// cutGrace bounds the wait, after the upstream connections are cut, for
// the requests in flight to be answered and audited.
const cutGrace = 2 * time.Second

// cutInFlight cuts every upstream connection and refuses new ones, then
// waits up to cutGrace for the client connections to close (each request
// answered while stopping closes its connection). What is still open then
// is logged: those requests have no audit record.
func (s *Server) cutInFlight() {
	cut := s.ups.cut()
	// fasthttp's own count is of no use here: once its shutdown has
	// returned it reports one less than open (the listener's, gone).
	l := s.ln.Load()
	if l == nil {
		return
	}
	deadline := time.Now().Add(cutGrace)
	open := l.open.Load()
	for open > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		open = l.open.Load()
	}
	log := s.log.Warn().Int("upstream_conns_cut", cut)
	if l.uncounted.Load() {
		// open counts only the connections the sidecar accepted itself.
		s.logged(log.Int64("connections_open", open), "drain ran out: upstream connections cut; the connections of the caller's listener are not counted, and their requests still in flight may not be audited")
		return
	}
	if open > 0 {
		s.logged(log.Int64("connections_open", open), "drain ran out: upstream connections cut; requests still in flight on the connections left open are not audited")
		return
	}
	s.logged(log, "drain ran out: upstream connections cut; the requests in flight were answered 502 and audited")
}

// Ready reports whether a policy is loaded and the server is not stopping.
func (s *Server) Ready() bool { return !s.stopping.Load() && s.store.Load() != nil }

// Close releases caches and the idle upstream connections; call it after
// Shutdown.
func (s *Server) Close() {
	s.stopSecrets()
	// The upstream connections idle in the pool: one a refused request
	// took and gave back unused (roundTrip) never carried a request, and
	// a service waits on such a connection for its first.
	s.upstream.hc.CloseIdleConnections()
	s.keys.Close()
	if s.certs != nil {
		s.certs.close()
	}
	s.unprepare()
	if p := s.prepared.Load(); p != nil {
		p.close()
	}
}

// fasthttpLogger sends fasthttp's own messages (connection errors) to
// zerolog, without their arguments: they quote request bytes (logsafe.go).
// fasthttp calls it from its worker, outside any recover, for a request
// it could not parse among others: a log writer that panicked there
// ended the process. Such a panic is counted in panics and dropped
// (TestFasthttpLogPanicKeepsServing).
type fasthttpLogger struct {
	log    zerolog.Logger
	panics *atomic.Uint64
}

// Printf logs format's fixed text (logFormat) at debug level.
func (l fasthttpLogger) Printf(format string, _ ...any) {
	defer l.logPanicked()
	l.log.Debug().Str("source", "fasthttp").Msg(logFormat(format))
}

// logPanicked recovers a panic of Printf (its log writer's) and counts it.
func (l fasthttpLogger) logPanicked() {
	if recover() != nil {
		l.panics.Add(1)
	}
}
