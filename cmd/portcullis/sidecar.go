package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/dataplane"
	"github.com/portcullis/portcullis/examples/upstream"
	"github.com/portcullis/portcullis/limiter"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// sidecarFlags are the flags of `portcullis sidecar`.
type sidecarFlags struct {
	policyFile string
	listen     string
	upstream   string
	admin      string
	auditFile  string
	collector  string
	spoolDir   string
	spoolMax   byteSize
	tokenFile  string
	etcd       etcdConnFlags
	stateDir   string
	pod        string
	logLevel   string
	drain      time.Duration
	drainDelay time.Duration
	holdPort   bool
	maxConns   int
	maxPerIP   int
	tokenFails int
	maxUpConns int // --upstream-max-conns
	tenantMax  int // --tenant-max-in-flight

	metricsTenants int  // tenants named on /metrics (0: none)
	pprof          bool // serve /debug/pprof/ on the admin listener

	collectorCA, collectorCert, collectorKey string
	service                                  string
	tls                                      listenTLSFlags // sidecar_tls.go

	keyClock func() time.Time // tests only, no flag: a simulated clock for key ages (dataplane.Config.KeyClock)
	clock    func() time.Time // tests only, no flag: a simulated wall clock (dataplane.Config.Clock, etcdsync.SyncConfig.Now)
	// hup, no flag: the SIGHUPs runSidecar has caught since the process
	// started, for the file mode's reload; nil, watchPolicyFile catches
	// them itself.
	hup chan os.Signal
}

func (f *sidecarFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.policyFile, "policy", "", "policy `file` (file mode; SIGHUP reloads it)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "`address` to serve on")
	fs.StringVar(&f.upstream, "upstream", "", "service `host:port` to forward to (required)")
	fs.StringVar(&f.admin, "admin", "127.0.0.1:9901", "admin `address` for /healthz, /readyz and /metrics")
	fs.StringVar(&f.auditFile, "audit-file", "", "write audit records as JSON lines to `path`")
	fs.StringVar(&f.collector, "collector", "", "send audit records to the collector at `url` (default: audit.collector of the policy)")
	fs.StringVar(&f.spoolDir, "spool", "portcullis-spool", "`directory` for audit batches the collector has not acknowledged")
	f.spoolMax = 256 << 20
	fs.Var(&f.spoolMax, "spool-max", "spool `size` bound (e.g. 256MiB, 1GiB); above half of it, denials without a verified credential are aggregated")
	fs.StringVar(&f.tokenFile, "collector-token-file", "", "`file` holding the collector's bearer token")
	fs.StringVar(&f.collectorCA, "collector-cacert", "", "PEM `file` of the CA that signed the collector's certificate (https collector; re-read when it changes)")
	fs.StringVar(&f.collectorCert, "collector-cert", "", "PEM `file` of the client certificate for the collector's mTLS mode")
	fs.StringVar(&f.collectorKey, "collector-key", "", "PEM `file` of the key of --collector-cert")
	fs.StringVar(&f.service, "service", defaultService, "`name` of the protected service: service.name of the audit records")
	f.etcd.register(fs)
	fs.StringVar(&f.stateDir, "state-dir", "portcullis-state", "`directory` for the last-known-good policy snapshot (etcd mode)")
	fs.StringVar(&f.pod, "pod", "", "pod `name`: member name in etcd and k8s.pod.name of the audit records (default: $POD_NAME, else the hostname)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.DurationVar(&f.drain, "drain", 20*time.Second, "how long SIGTERM waits for in-flight requests")
	fs.IntVar(&f.maxConns, "max-conns", 0, "most open client `connections`; more are closed at accept (0: 10000, or fewer to fit the container's memory limit, 64 KiB each beyond 48 MiB, 96 KiB with TLS; always within the open-files limit)")
	fs.IntVar(&f.maxPerIP, "max-conns-per-ip", 1024, "most open client `connections` from one address (raise it behind a proxy)")
	fs.IntVar(&f.tokenFails, "token-failures-per-ip", 20, "access tokens from one address that may fail verification per second, twice that at once; past it a token not verified before gets 429 token_failures_limited unverified")
	fs.IntVar(&f.maxUpConns, "upstream-max-conns", 1024, "most `connections` to the service; at the cap a request waits for one up to the upstream timeout (30s); public routes hold at most a quarter of them unless the policy's public_routes.max_in_flight says otherwise")
	fs.IntVar(&f.tenantMax, "tenant-max-in-flight", 0, "most `requests` of one tenant in flight at once in the classes whose policy sets no concurrency cap, so no tenant can hold every upstream connection; more are answered 429 concurrency_limited (0: half of --upstream-max-conns)")
	fs.DurationVar(&f.drainDelay, "drain-delay", 5*time.Second, "after SIGTERM, how long /readyz answers 503 while the listener still accepts, before in-flight requests are drained")
	fs.BoolVar(&f.holdPort, "hold-port", false, "after the drain and the audit flush, keep --listen bound, answering 503, until --upstream refuses connections (the injector sets it on a legacy, regular-container sidecar, whose app gets SIGTERM with it and could otherwise take the port)")
	f.tls.register(fs)
	fs.BoolVar(&f.pprof, "pprof", false, "serve Go profiles (CPU, heap) under /debug/pprof/ on the admin listener; off by default")
	fs.IntVar(&f.metricsTenants, "metrics-tenants", dataplane.DefaultTenantSeries, "per-tenant series on /metrics: the top `N` tenants by recent traffic by name, the others summed in tenant=\"_other\" (0: none by name)")
}

// tenantSeries maps --metrics-tenants onto dataplane.Config.TenantSeries,
// whose 0 means the default.
func (f *sidecarFlags) tenantSeries() int {
	if f.metricsTenants <= 0 {
		return -1
	}
	return f.metricsTenants
}

// defaultService is the service.name of audit records without --service.
const defaultService = "portcullis"

// podName is the pod the sidecar runs in: --pod, else $POD_NAME (the
// downward API), else the hostname (a pod's hostname is its name), else
// "" (unknown). It is one name for both the member record in etcd and
// the audit records' k8s.pod.name: the evidence pack checks a member's
// silence against the batches naming it, and a sidecar without --pod
// or $POD_NAME kept its member record under the hostname while its
// records named no pod, so nothing it sent was matched to it.
func (f *sidecarFlags) podName() string {
	if f.pod != "" {
		return f.pod
	}
	if p := os.Getenv("POD_NAME"); p != "" {
		return p
	}
	h, _ := os.Hostname()
	return h
}

func runSidecar(args []string) int {
	// SIGHUP is caught before anything else: a file-mode sidecar caught
	// it only once its first load of the policy was done, so one sent
	// while a large policy loaded killed it, exit 129
	// (TestHangupDuringPolicyLoadDoesNotKill). The reload loop takes
	// what arrived meanwhile. SIGHUP stays caught until the process
	// exits, never let go nor ignored: let go, one landing before the
	// exit killed a sidecar that had stopped cleanly, and signal.Ignore
	// has a window of its own (ignoreHangup; TestHangupStormThroughStop).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	writeErrorsOnBrokenPipe()
	var f sidecarFlags
	fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
	f.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := checkSidecarFlags(f); err != nil {
		return usageError(os.Stderr, fs.Name(), err)
	}
	log := newLogger(f.logLevel)
	setGoMemoryLimit(log, cgroupRoot, cgroupSelf)
	if f.etcd.endpoints != "" {
		// Not in sidecar(): portcullis dev runs it too, and a closed
		// terminal's SIGHUP ends dev.
		defer ignoreHangup(log, "in etcd mode the policy, keys, revocations and suspensions follow etcd; there is nothing to reload")()
		signal.Stop(hup)
	} else {
		f.hup = hup
	}
	return runUntilSignal(log, "sidecar failed", func(ctx context.Context) error { return sidecar(ctx, f, log) })
}

// sidecar wires the policy source, audit sink, data plane and admin
// listener, serves until ctx ends, then drains.
func sidecar(ctx context.Context, f sidecarFlags, log zerolog.Logger) error {
	store := &policy.Store{}
	src, err := startPolicySource(ctx, f, store, log)
	if err != nil {
		return err
	}
	defer src.close()
	sink, err := openAuditSink(f, store, log)
	if err != nil {
		return err
	}
	srv, err := dataplane.New(dataplane.Config{Store: store, Upstream: f.upstream, Audit: sink.sink, Watching: src.watching, Logger: log,
		MaxConns: f.maxConns, MaxConnsPerIP: f.maxPerIP, MaxUpstreamConn: f.maxUpConns, TenantMaxInFlight: f.tenantMax, TLS: f.tls.config(), TenantSeries: f.tenantSeries(), Approvals: src.approvals, EtcdPrefix: src.prefix, KeyClock: f.keyClock,
		GlobalLimits: src.global != nil, Clock: f.clock,
		TokenFailures: tokenFailures(f.tokenFails)})
	if err != nil {
		return err
	}
	defer srv.Close()
	if src.global != nil { // etcd mode: global limits (sidecar_share.go)
		src.families = append(src.families, src.global(srv)...)
	}
	reg := &dataplane.Registry{}
	for _, fams := range [][]dataplane.Family{srv.Families(), dataplane.ProcessFamilies(), src.families, sink.families} {
		if err := reg.Register(fams...); err != nil {
			return err
		}
	}
	admin := &dataplane.Admin{Server: srv, Checks: append(src.checks, sink.checks...), Metrics: reg, Pprof: f.pprof}
	return serve(ctx, f, srv, admin, sink, log)
}

// serve runs the listeners until ctx ends, then shuts down in order:
// readiness false while the listener still accepts for --drain-delay (the
// time endpoints take to notice), then in-flight requests finish and
// keep-alives close (up to --drain), then audit flushes.
func serve(ctx context.Context, f sidecarFlags, srv *dataplane.Server, admin *dataplane.Admin, sink *auditSink, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("cannot listen on --listen %q: %w", f.listen, err)
	}
	aln, err := net.Listen("tcp", f.admin)
	if err != nil {
		return errors.Join(fmt.Errorf("cannot listen on --admin %q: %w", f.admin, err), ln.Close())
	}
	var served sync.WaitGroup
	adminSrv := admin.NewServer()
	served.Go(func() {
		if err := adminSrv.Serve(admin.Listener(aln)); err != nil {
			log.Error().Err(err).Msg("admin listener stopped")
		}
	})
	errc := make(chan error, 1)
	serveLn := ln
	var held *heldListener
	if tcp, ok := ln.(*net.TCPListener); ok && f.holdPort {
		held = &heldListener{TCPListener: tcp}
		serveLn = held
	}
	served.Go(func() { errc <- srv.Serve(serveLn) })
	defer func() {
		// Closing aln and ln also stops a Serve that had not taken its
		// listener yet, which Shutdown would miss: stopped while
		// starting (a signal before serve, --drain-delay 0), the
		// sidecar accepted for ever and never exited
		// (TestSidecarStoppedWhileStartingExits). On the usual path
		// Shutdown closed them already.
		for _, l := range []struct {
			ln   net.Listener
			what string
		}{{aln, "admin listener"}, {ln, "listener"}} {
			if err := l.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				log.Warn().Err(err).Msg("closing the " + l.what)
			}
		}
		served.Wait()
	}()
	log.Info().Str("listen", ln.Addr().String()).Bool("tls", f.tls.cert != "").Bool("mtls", f.tls.clientCA != "").Str("admin", aln.Addr().String()).Str("upstream", f.upstream).Msg("sidecar serving")
	select {
	case err := <-errc:
		return fmt.Errorf("serving stopped: %w", err)
	case <-ctx.Done():
	}
	srv.Drain()
	log.Info().Dur("drain_delay", f.drainDelay).Msg("stopping: /readyz answers 503; still accepting for the drain delay")
	if err := waitOrFail(f.drainDelay, errc); err != nil {
		log.Error().Err(err).Msg("listener failed during the drain delay; shutting down now")
	}
	log.Info().Dur("drain", f.drain).Msg("shutting down: listener closed, draining in-flight requests")
	dctx, cancel := context.WithTimeout(context.Background(), f.drain)
	defer cancel()
	if err := srv.Shutdown(dctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Warn().Err(err).Msg("drain did not finish")
	}
	err = sink.close()
	if held != nil {
		holdPort(held.TCPListener, f.upstream, srv.ListenerTLS(), holdAnswerTime, log)
	}
	if serr := adminSrv.Shutdown(); serr != nil {
		log.Warn().Err(serr).Msg("admin listener shutdown")
	}
	log.Info().Msg("stopped")
	return err
}

// waitOrFail waits d, or returns early with the error of a listener that
// stops serving before then (the audit is still flushed after).
func waitOrFail(d time.Duration, errc <-chan error) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case err := <-errc:
		return fmt.Errorf("serving stopped: %w", err)
	}
}

// policySource is where the sidecar's policy comes from: a file (SIGHUP
// reloads it) or etcd (watched).
type policySource struct {
	watching  bool
	prefix    string                   // etcd only: the prefix watched
	approvals dataplane.ApprovalLedger // etcd only: the approvals of issue 20; nil in file mode (refused)
	checks    []dataplane.Check        // for /readyz
	families  []dataplane.Family       // for /metrics
	close     func()
	// global, in etcd mode, starts sharing the global limits with the
	// other sidecars for srv and returns its metric families.
	global func(srv *dataplane.Server) []dataplane.Family
}

func startPolicySource(ctx context.Context, f sidecarFlags, store *policy.Store, log zerolog.Logger) (*policySource, error) {
	if f.policyFile != "" {
		return watchPolicyFile(ctx, f.policyFile, f.hup, store, log)
	}
	return startEtcdSource(ctx, f, store, log)
}

// watchPolicyFile loads the policy file and reloads it on SIGHUP: compile,
// then swap; a bad file keeps the old policy and says why. hup is where
// the SIGHUPs caught since the start arrive (one that came during the
// first load reloads after it); nil, it catches them from now on.
func watchPolicyFile(ctx context.Context, path string, hup chan os.Signal, store *policy.Store, log zerolog.Logger) (*policySource, error) {
	var rev int64
	load := func() error {
		// A regular file only: a FIFO swapped in at its name held the
		// reload in open(2) for good, and SIGTERM waited on it.
		data, err := readPolicyFile(path) // of at most policy.MaxDocumentBytes
		if err != nil {
			return err
		}
		doc, err := policy.Load(path, data)
		if err != nil {
			return err
		}
		snap, err := policy.Compile(doc, policy.Live{Revision: rev + 1})
		if err != nil {
			return err
		}
		rev++
		store.Swap(snap)
		log.Info().Str("policy", path).Int64("revision", rev).Int("routes", len(snap.Routes)).Msg("policy loaded")
		for _, p := range pushProblems(path, data, doc) {
			log.Warn().Str("policy", path).Int("line", p.Line).Str("problem", p.Message).Msg("the policy breaks a rule policy push enforces; served as loaded, mend it")
		}
		return nil
	}
	if err := load(); err != nil {
		return nil, boundRefusal(err, "portcullis policy validate "+path) // as a refused reload's below
	}
	stopHup := func() {} // a caller's hup is the caller's to stop
	if hup == nil {
		hup = make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		stopHup = func() { signal.Stop(hup) }
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-stop:
				return
			case <-hup:
				if err := load(); err != nil {
					store.Fail()
					// Cut as etcd mode's refusals: a file with a problem on
					// every line made a log line of megabytes
					// (TestReloadRefusalLogBounded).
					log.Error().Str("error", etcdsync.RefusalText(err.Error(), "portcullis policy validate "+path)).Str("policy", path).Msg("policy reload refused; keeping the policy in force")
				}
			}
		}
	})
	return &policySource{close: func() { stopHup(); close(stop); wg.Wait() }}, nil
}

func newLogger(level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Logger()
}

func runUpstream(args []string) int {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8081", "`address` to serve the demo service on")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := checkListenAddrs("listen", *listen); err != nil {
		return usageError(os.Stderr, fs.Name(), err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "portcullis upstream: cannot listen on --listen %q: %v\n", *listen, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "demo upstream listening on %s\n", ln.Addr())
	if err := fasthttp.Serve(ln, upstream.Handler); err != nil {
		fmt.Fprintf(os.Stderr, "portcullis upstream: %v\n", err)
		return 1
	}
	return 0
}

// tokenFailures is the budget of failed token verifications per source
// address that --token-failures-per-ip sets: n a second, 2n at once. 0,
// the value of a sidecar whose flags were not parsed (dev's), is the data
// plane's default, not a budget of none: limiter.NewLimit(0, ...) denies
// every take, and dev's sidecar refused every token it had not verified
// before, a valid one included (TestTokenFailuresZeroIsTheDefault).
func tokenFailures(n int) limiter.Limit {
	if n <= 0 {
		return limiter.Limit{}
	}
	return limiter.NewLimit(int64(n), time.Second, 2*int64(n))
}
