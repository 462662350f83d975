package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/dataplane"
	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

type collectorFlags struct {
	listen, data, retention, signingKey, tokenFile string
	previousSigningKey                             string // the store's key until now: rotate it to --signing-key
	alertmanagerTokenFile                          string // POST /v1/alertmanager's tokens
	policyFile                                     string // detection rules (issue 14)
	metricsListen                                  string
	tlsCert, tlsKey, clientCA                      string
	clientCRL                                      string        // CRLs of --client-ca's CAs
	clientCRLReload                                time.Duration // how often --client-crl is read again
	certTenants                                    string        // client certificate identities' tenant bindings
	segmentMaxBytes                                int64
	segmentMaxAge                                  time.Duration
	maxBatchBytes, maxInflightBytes                int64
	senderQuota                                    int64
	maxCertSenders                                 int
	certSenderIdle                                 time.Duration
	maxBatchRecords, maxRecordBytes                int
	maxConns                                       int
	recordWindow                                   time.Duration
	etcd                                           etcdConnFlags
	head                                           headFlags
}

func parseCollectorFlags(args []string) (collectorFlags, int, bool) {
	var c collectorFlags
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:4318", "`address` to listen on")
	fs.StringVar(&c.metricsListen, "metrics-listen", "", "`address` serving /metrics, /healthz and /readyz without authentication (on --listen, /metrics needs a sender's token or certificate)")
	fs.StringVar(&c.data, "data", "", "data `directory` for segments")
	fs.StringVar(&c.retention, "retention", "0", "delete closed segments older than this `duration` (e.g. 400d, 720h, 1d12h; 0 keeps all)")
	fs.StringVar(&c.signingKey, "signing-key", "", "Ed25519 private key `file` (from portcullis audit keygen)")
	fs.StringVar(&c.previousSigningKey, "previous-signing-key", "", "Ed25519 private key `file` the store was signed with until now: rotate the store's key to --signing-key (a key rotation entry in the chain, signed by both, and the old key's detection snapshot signed again; once written, the flag changes nothing)")
	// --token put the senders' secret on the command line (ps, shell
	// history): refused, as the sidecar takes its token from a file only.
	tokenOnCommandLine := false
	fs.Func("token", refusedPrefix+"--token-file", func(string) error { tokenOnCommandLine = true; return nil })
	fs.StringVar(&c.tokenFile, "token-file", "", "`file` of \"name token\" lines, one per sidecar or deployment; every batch is stored with the name of its token")
	fs.StringVar(&c.alertmanagerTokenFile, "alertmanager-token-file", "", "`file` of \"name token\" lines, the only tokens POST /v1/alertmanager takes (a sender's is refused); without it the route is not served")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate `file` (PEM)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key `file` (PEM)")
	fs.StringVar(&c.clientCA, "client-ca", "", "CA bundle `file` (PEM) whose client certificates authenticate senders (re-read when it changes)")
	fs.StringVar(&c.clientCRL, "client-crl", "", "`file` of CRLs (PEM or DER) of --client-ca's CAs, each signed by its CA: a sender certificate its CA's CRL lists, or whose CA's CRL is past its nextUpdate, is refused at the handshake and on every request; a CA without a CRL revokes nothing")
	fs.DurationVar(&c.clientCRLReload, "client-crl-reload", 10*time.Second, "how often --client-crl is read again, besides as soon as a handshake sees it changed (a file that fails to load keeps the CRLs in force)")
	fs.StringVar(&c.certTenants, "cert-tenants", "", "`file` of \"identity tenants=a,b\" lines binding client certificate identities to the tenants their records may name (an identity not listed: any tenant); needs --client-ca")
	fs.Int64Var(&c.segmentMaxBytes, "segment-max-bytes", 64<<20, "rotate segments past this size")
	fs.DurationVar(&c.segmentMaxAge, "segment-max-age", time.Hour, "rotate segments this old")
	fs.Int64Var(&c.maxBatchBytes, "max-batch-bytes", 16<<20, "largest accepted batch")
	fs.Int64Var(&c.maxInflightBytes, "max-inflight-bytes", 0, "most memory the batches being read hold at once (0: 8 x --max-batch-bytes); beyond it a batch is answered 503 collector_busy and retried by its sender")
	fs.Int64Var(&c.senderQuota, "sender-quota", collector.DefaultSenderQuota, "most batch bytes (decompressed, or stored when more) one sender may send a minute; beyond it 429 sender_quota with Retry-After, and the sidecar retries from its spool (-1: no quota)")
	fs.IntVar(&c.maxCertSenders, "max-cert-senders", collector.DefaultMaxCertSenders, "most client certificate identities (--client-ca) the collector holds state for at once; a new one past it is answered 503 cert_senders_full with Retry-After and retried from its sidecar's spool (-1: no bound)")
	fs.DurationVar(&c.certSenderIdle, "cert-sender-idle", collector.DefaultSenderIdle, "a client certificate identity that sent nothing this long is forgotten (a batch it re-sends from before is refused 409, never stored twice), freeing its place under --max-cert-senders")
	fs.IntVar(&c.maxBatchRecords, "max-batch-records", 10000, "most records in one batch (413 beyond)")
	fs.IntVar(&c.maxRecordBytes, "max-record-bytes", 64<<10, "largest encoded log record (413 beyond)")
	fs.IntVar(&c.maxConns, "max-conns", 0, "most connections open on --listen at once, authenticated or not; more are closed as they arrive and counted in portcullis_collector_connections_capped_total (0: 4096, or fewer to fit the open-files limit; always within it)")
	fs.DurationVar(&c.recordWindow, "record-window", 15*time.Minute, "records timed further than this from receipt are stored flagged time_outside_window")
	fs.StringVar(&c.policyFile, "policy", "", "policy `file` whose detection rules the collector runs (default: the policy in etcd, with --etcd)")
	c.etcd.register(fs) // --etcd: also store the control plane's lifecycle events
	c.head.register(fs)
	code, ok := parseFlags(fs, args)
	if !ok {
		return c, code, false
	}
	if tokenOnCommandLine {
		return c, usagef(os.Stderr, fs.Name(), "--token shows the token to every local user (ps, shell history); write it to a file (a bare token is sender default) and give --token-file FILE"), false
	}
	if c.data == "" || c.signingKey == "" || (c.tokenFile == "" && c.clientCA == "") {
		return c, usagef(os.Stderr, fs.Name(), "--data, --signing-key and one of --token-file or --client-ca (with --tls-cert and --tls-key) are required"), false
	}
	// Each named apart: the line above, given --data, --signing-key and
	// --token-file, named no flag that was wrong (TestCollectorTLSFlagsPairNamed).
	switch {
	case c.tlsCert != "" && c.tlsKey == "":
		return c, usagef(os.Stderr, fs.Name(), "--tls-cert needs --tls-key, the certificate's private key"), false
	case c.tlsKey != "" && c.tlsCert == "":
		return c, usagef(os.Stderr, fs.Name(), "--tls-key needs --tls-cert, the certificate of the key"), false
	case c.clientCA != "" && c.tlsCert == "":
		return c, usagef(os.Stderr, fs.Name(), "--client-ca needs --tls-cert and --tls-key: client certificates are presented over TLS"), false
	}
	if c.clientCRL != "" && c.clientCA == "" {
		return c, usagef(os.Stderr, fs.Name(), "--client-crl revokes sender certificates: give --client-ca too"), false
	}
	if c.alertmanagerTokenFile != "" && c.policyFile == "" && c.etcd.endpoints == "" {
		return c, usagef(os.Stderr, fs.Name(), "--alertmanager-token-file needs detection: give --policy or --etcd"), false
	}
	if _, err := collector.ParseRetention(c.retention); errors.Is(err, collector.ErrShortRetention) {
		return c, usagef(os.Stderr, fs.Name(), "--retention %s is under one second (a retention entry records whole seconds); 0 keeps all", c.retention), false
	} else if err != nil {
		return c, usagef(os.Stderr, fs.Name(), "--retention %s: want N days (400d), a duration (720h) or both (1d12h); 0 keeps all", c.retention), false
	}
	if err := checkCollectorNumbers(c); err != nil {
		return c, usageError(os.Stderr, fs.Name(), err), false
	}
	if err := checkListenAddrs("listen", c.listen, "metrics-listen", c.metricsListen); err != nil {
		return c, usageError(os.Stderr, fs.Name(), err), false
	}
	if err := checkFlagFiles("signing-key", c.signingKey, "previous-signing-key", c.previousSigningKey, "token-file", c.tokenFile, "alertmanager-token-file", c.alertmanagerTokenFile, "tls-cert", c.tlsCert, "tls-key", c.tlsKey,
		"client-ca", c.clientCA, "client-crl", c.clientCRL, "policy", c.policyFile, "publish-head", c.head.file); err != nil {
		return c, usageError(os.Stderr, fs.Name(), err), false
	}
	if err := c.etcd.checkFiles(); err != nil {
		return c, usageError(os.Stderr, fs.Name(), err), false
	}
	if f := c.head.file; f != "" {
		// A directory not there (a typo, a mount missing) started the
		// collector, which logged the failure every round and never wrote
		// the anchor asked for (TestCollectorPublishHeadDirectoryChecked).
		if d, err := os.Stat(filepath.Dir(f)); err != nil || !d.IsDir() {
			return c, usagef(os.Stderr, fs.Name(), "--publish-head %s: directory %s does not exist (the head file is written there; create it or mount it first)", f, filepath.Dir(f)), false
		}
		if inDirectory(filepath.Dir(f), c.data) {
			return c, usagef(os.Stderr, fs.Name(), "--publish-head %s: it is in the store's --data directory %s, which whoever can cut the store writes too: publish the head on another mount or host", f, c.data), false
		}
	}
	return c, 0, true
}

// inDirectory reports whether dir is root or lies under it, each with its
// links resolved (root may not exist yet: the collector creates it). A
// --publish-head in the store's own directory was taken, and the anchor
// was then the adversary's to write (TestCollectorPublishHeadOutsideTheStore).
func inDirectory(dir, root string) bool {
	resolve := func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		if a, err := filepath.Abs(p); err == nil {
			p = a
		}
		return filepath.Clean(p)
	}
	d, r := resolve(dir), resolve(root)
	rel, err := filepath.Rel(r, d)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// minSignEvery is the shortest --sign-every taken. Each interval signs
// the head, writes and syncs head.json and publishes it, idle or not:
// 1ns was taken and an idle collector did that in a loop (about 17% of a
// core). A tenth of a second is the shortest the tests use to see heads
// move; an operator has no use for fresher heads than that.
const minSignEvery = 100 * time.Millisecond

// checkCollectorNumbers refuses numbers the collector would otherwise
// replace with its defaults without a word.
func checkCollectorNumbers(c collectorFlags) error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"sign-every", c.head.every}, {"segment-max-age", c.segmentMaxAge}, {"record-window", c.recordWindow}, {"client-crl-reload", c.clientCRLReload}, {"cert-sender-idle", c.certSenderIdle}} {
		if d.v <= 0 {
			return fmt.Errorf("--%s %s: want more than 0s", d.name, d.v)
		}
	}
	if c.head.every < minSignEvery {
		return fmt.Errorf("--sign-every %s: want at least %s", c.head.every, minSignEvery)
	}
	for _, n := range []struct {
		name string
		v    int64
	}{{"max-batch-bytes", c.maxBatchBytes}, {"max-batch-records", int64(c.maxBatchRecords)}, {"max-record-bytes", int64(c.maxRecordBytes)}, {"segment-max-bytes", c.segmentMaxBytes}} {
		if n.v < 1 {
			return fmt.Errorf("--%s %d: want at least 1", n.name, n.v)
		}
	}
	if c.maxCertSenders == 0 || c.maxCertSenders < -1 {
		return fmt.Errorf("--max-cert-senders %d: want at least 1, or -1 for no bound", c.maxCertSenders)
	}
	if c.senderQuota == 0 || c.senderQuota < -1 {
		// -2 turned the quota off and 0 set the default, each without a
		// word (TestCollectorRefusesBadBindingsAndQuota).
		return fmt.Errorf("--sender-quota %d: want at least 1 (bytes a minute), or -1 for no quota", c.senderQuota)
	}
	if c.maxConns < 0 {
		return fmt.Errorf("--max-conns %d: want 0 (fitted to the open-files limit) or more", c.maxConns)
	}
	if err := collector.CheckOpenFiles(c.maxConns); err != nil {
		return err // before anything starts: the cap would not fit
	}
	if err := collector.CheckFileSize(c.segmentMaxBytes, c.maxBatchBytes); err != nil {
		return err // before anything starts: a segment would not fit
	}
	if c.maxInflightBytes < 0 {
		return fmt.Errorf("--max-inflight-bytes %d: want 0 (8 x --max-batch-bytes) or more", c.maxInflightBytes)
	}
	return nil
}

func runCollector(args []string) int {
	writeErrorsOnBrokenPipe() // a log reader gone kills no server
	c, code, ok := parseCollectorFlags(args)
	if !ok {
		return code
	}
	log := zerolog.New(os.Stderr).With().Timestamp().Str("component", "collector").Logger()
	setGoMemoryLimit(log, cgroupRoot, cgroupSelf)
	if err := serveCollector(c, &log); err != nil {
		log.Error().Err(err).Msg("collector stopped")
		return 1
	}
	log.Info().Msg("collector stopped")
	return 0
}

func serveCollector(c collectorFlags, log *zerolog.Logger) error {
	defer ignoreHangup(*log, "the collector reads its flags and files at start; restart it to read them again")()
	retention, err := collector.ParseRetention(c.retention)
	if err != nil {
		return err
	}
	key, err := collector.LoadPrivateKey(c.signingKey)
	if err != nil {
		return err
	}
	var prevKey ed25519.PrivateKey
	if c.previousSigningKey != "" {
		if prevKey, err = collector.LoadPrivateKey(c.previousSigningKey); err != nil {
			return err
		}
	}
	tokens, err := readTokens("token-file", c.tokenFile)
	if err != nil {
		return err
	}
	amTokens, err := readTokens("alertmanager-token-file", c.alertmanagerTokenFile)
	if err != nil {
		return err
	}
	warnBareTokenFile(log, "token-file", c.tokenFile)
	warnBareTokenFile(log, "alertmanager-token-file", c.alertmanagerTokenFile)
	certTenants, err := readCertTenants(c.certTenants, c.clientCA)
	if err != nil {
		return err
	}
	det := detection{key: key, previous: prevKey, etcdUser: c.etcd.conn.User()}
	store, err := collector.OpenStore(c.data, collector.StoreConfig{SigningKey: key, PreviousKey: prevKey, SegmentMaxBytes: c.segmentMaxBytes,
		SegmentMaxAge: c.segmentMaxAge, MaxCertSenders: c.maxCertSenders, SenderIdle: c.certSenderIdle, Retention: retention, Detection: det.hooks(),
		AcceptMissingHead: c.head.acceptedBy(), PublishesCounted: c.etcd.endpoints != "",
		OnDeferred: func(err error) {
			log.Warn().Err(err).Msg("audit store step failed after the entry was stored; retrying on the next append")
		},
		OnPlanted: func(what string) {
			log.Warn().Msg(what)
		},
		OnAnchor: func(what string) {
			log.Warn().Msg(what)
		},
		OnBreak: func(segment uint64, untrusted int, reason string) {
			log.Error().Uint64("segment", segment).Int("untrusted_entries", untrusted).Str("reason", reason).
				Msg("audit trail break recorded: the store is not the chain its signed head vouched for (entries cut, edited or the head replaced); " +
					"the collector goes on, audit verify fails from here on, and who changed the data directory is to be found")
		}})
	if err != nil {
		return err
	}
	defer logClose(store, log, "audit store")
	if now, seg := store.KeyRotated(); now {
		log.Warn().Uint64("segment", seg).Msg("audit store signing key rotated: a key rotation entry signed by the previous key opens this segment, and the new key signs from it on; verify with either public key, and drop --previous-signing-key")
	} else if c.previousSigningKey != "" {
		log.Warn().Msg("--previous-signing-key given, but the store is signed by --signing-key already: no rotation written; drop the flag")
	}
	tlsCfg, crl, certRefused, err := collectorTLS(c, log)
	if err != nil {
		return err
	}
	cfg := collector.Config{Tokens: tokens, ClientCertAuth: c.clientCA != "", CertTenants: certTenants,
		MaxBodyBytes: c.maxBatchBytes, MaxInflightBytes: c.maxInflightBytes, SenderQuota: c.senderQuota, Limits: collector.DecodeLimits{MaxRecords: c.maxBatchRecords, MaxRecordBytes: c.maxRecordBytes},
		RecordWindow: c.recordWindow, MaxConns: c.maxConns, Log: log, Metrics: collectorMetrics(&det, crl)}
	cfg.CertRefused = certRefused
	col, err := collector.New(store, cfg)
	if err != nil {
		return err
	}
	srv := col.HTTPServer()
	srv.TLSConfig = tlsCfg
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("cannot listen on --listen %q: %w", c.listen, err)
	}
	// The signals stay caught until the collector has stopped (this
	// defer runs last): a second one while it drains, publishes its
	// final head and closes the store no longer kills it there.
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, stop := context.WithCancel(sigCtx)
	defer stop()
	if crl != nil {
		go crl.reload(ctx, c.clientCRLReload)
	}
	var admin *etcdadmin.Admin
	if c.etcd.endpoints != "" {
		cli, err := dialEtcdRenewing(c.etcd, *log)
		if err != nil {
			return err
		}
		defer logClose(cli, log, "etcd client")
		admin = etcdadmin.New(cli, c.etcd.prefix)
	}
	pubs := c.head.publishers(admin)
	if err := c.head.checkAnchors(ctx, store, pubs, c, log); err != nil {
		return err
	}
	if err := det.start(ctx, c.policyFile, admin, c.etcd.endpoints, c.data, store, log); err != nil {
		return stoppedBeforeReady(sigCtx, err, log)
	}
	if srv.Handler, err = det.routes(srv.Handler, tokens, amTokens); err != nil { // POST /v1/alertmanager (issue 14)
		return err
	}
	if c.metricsListen != "" {
		stopMetrics, err := serveCollectorMetrics(c.metricsListen, col, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	defer publishFinalHead(store, pubs, log)
	var bg sync.WaitGroup
	defer det.finalSnapshot(log) // after the background tasks: nothing is stored after it
	// The background tasks end, and are waited for, before the final head
	// is published and the store closes (the defers above).
	defer func() { stop(); bg.Wait() }()
	bg.Go(func() {
		store.RunMaintenance(ctx, time.Minute, func(err error) { log.Error().Err(err).Msg("maintenance") })
	})
	if admin != nil {
		bg.Go(func() { collector.ForwardEvents(ctx, admin, store, filepath.Join(c.data, "events.rev"), *log) })
	}
	bg.Go(func() {
		store.RunHeadSigner(ctx, c.head.every, pubs, func(err error) { log.Error().Err(err).Msg("signed head") })
	})
	bg.Go(func() { shutdownOnDone(ctx, srv, log) })
	log.Info().Str("listen", ln.Addr().String()).Str("data", c.data).Int("max_conns", col.MaxConns()).Msg("collector listening")
	if srv.TLSConfig != nil {
		err = srv.ServeTLS(ln, "", "") // the pair is in TLSConfig, loaded at start and when its files change
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// stoppedBeforeReady returns err, the failure of a start step, or nil
// when the step ended because a SIGTERM or SIGINT (sig) ended its wait:
// a shutdown asked for while the collector waits for etcd at start is not
// a failure (it exited 1), so it is logged as such and exits 0.
func stoppedBeforeReady(sig context.Context, err error, log *zerolog.Logger) error {
	if sig.Err() == nil || !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info().Str("reason", err.Error()).Msg("collector stopped before it was ready: SIGTERM or SIGINT while starting")
	return nil
}

// logClose closes c, logging a failure as what: for a defer on the way out,
// where the error has nowhere else to go.
func logClose(c io.Closer, log *zerolog.Logger, what string) {
	if err := c.Close(); err != nil {
		log.Error().Err(err).Str("closing", what).Msg("close failed")
	}
}

// shutdownOnDone shuts srv down, allowing 10s for the requests in flight,
// when ctx ends.
func shutdownOnDone(ctx context.Context, srv *http.Server, log *zerolog.Logger) {
	<-ctx.Done()
	// The steps to the exit can take a while (batches in flight, the
	// final head to etcd): without this line a stopping collector said
	// nothing until it was gone.
	log.Info().Msg("collector stopping: intake closed; the batches in flight get up to 10s, then the final signed head is published and the store closed")
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		log.Warn().Err(err).Msg("collector shutdown did not finish")
	}
}

// metricsMaxConns caps the connections --metrics-listen holds open; past
// it a newcomer closes the longest-idle one (evictIdleListener), or, when
// none is idle, waits for a request to end. Unauthenticated, it
// otherwise took as many as one host opened, every descriptor of the
// process, and the intake listener could accept no batch.
const metricsMaxConns = 64

// metricsReadTimeout bounds the read of a request on --metrics-listen,
// its head and its body: none of its requests has a body, but net/http
// reads one declared before it answers, and without this bound a
// request that declared one and sent none was read for ever, so
// metricsMaxConns of them took every place and the probes and the
// scrape were answered no more (TestMetricsListenerNotHeldByDeclaredBody).
const metricsReadTimeout = 5 * time.Second

// metricsWriteTimeout bounds the write of an answer on --metrics-listen
// (Prometheus's default scrape timeout): without it a client that sent
// requests and read no answer held its connection mid-request for ever,
// its write blocked on full socket buffers, where evictIdleListener
// evicts only idle connections, and metricsMaxConns of them kept the
// probes waiting for good (TestMetricsListenerNotHeldByUnreadAnswers).
const metricsWriteTimeout = 10 * time.Second

// serveCollectorMetrics serves col's metrics on addr, without
// authentication, until the returned function is called.
func serveCollectorMetrics(addr string, col *collector.Collector, log *zerolog.Logger) (func(), error) {
	return serveMetrics("collector", addr, col.MetricsHandler(), collector.MaxHeaderBytes, col.ErrorLog(), log)
}

// readTokens reads the named tokens of --flag's file. A file that holds
// none (empty, or comments only) is an error naming the flag and the
// file: an empty --alertmanager-token-file left POST /v1/alertmanager
// unserved (404) without a word, an empty --token-file beside
// --client-ca refused every token sender, and alone it stopped the
// collector with "collector needs a token or client certificate
// authentication", naming neither (TestCollectorEmptyTokenFileNamed).
func readTokens(flag, file string) ([]collector.SenderToken, error) {
	if file == "" {
		return nil, nil
	}
	b, err := durable.ReadRegularMax(file, collector.MaxKeyFileBytes)
	if err != nil {
		return nil, fmt.Errorf("cannot read token file %q: %w", file, err)
	}
	tokens, err := collector.ParseTokenFile(b)
	if err != nil {
		return nil, fmt.Errorf("token file %q: %w", file, err)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("--%s %s: the file holds no token (it is empty or comments only); write one `NAME TOKEN` line for each sender", flag, file)
	}
	return tokens, nil
}

// warnBareTokenFile warns when --flag's file (read already) is of the
// old format, one bare token: its sender is named "default", silently.
// The warning names the file and the fix, never the token.
func warnBareTokenFile(log *zerolog.Logger, flag, file string) {
	if file == "" {
		return
	}
	b, err := durable.ReadRegularMax(file, collector.MaxKeyFileBytes)
	if err != nil || !collector.BareTokenFile(b) {
		return
	}
	log.Warn().Str("flag", "--"+flag).Str("file", file).Str("sender", "default").
		Msg("the token file holds one bare token (the old format, no sender name): its sender is named \"default\" in every audit record, trail entry and metric; write the line as `NAME TOKEN` (e.g. the sidecar's deployment) to name it")
}

// readCertTenants reads --cert-tenants, which binds identities of the
// client certificates --client-ca authenticates.
func readCertTenants(file, clientCA string) (map[string][]string, error) {
	if file == "" {
		return nil, nil
	}
	if clientCA == "" {
		return nil, fmt.Errorf("--cert-tenants %q binds client certificates, and without --client-ca none authenticates", file)
	}
	b, err := durable.ReadRegularMax(file, collector.MaxKeyFileBytes)
	if err != nil {
		return nil, fmt.Errorf("cannot read --cert-tenants file %q: %w", file, err)
	}
	m, err := collector.ParseCertTenants(b)
	if err != nil {
		return nil, fmt.Errorf("--cert-tenants file %q: %w", file, err)
	}
	return m, nil
}

// collectorTLS returns the intake's TLS configuration (nil without
// --tls-cert), with --client-crl the CRLs it checks, and with --client-ca
// the check of a request's verified client certificate chains against
// the CAs and CRLs in force (collector.Config.CertRefused).
func collectorTLS(c collectorFlags, log *zerolog.Logger) (*tls.Config, *intakeCRL, func([][]*x509.Certificate) bool, error) {
	if c.tlsCert == "" {
		return nil, nil, nil, nil
	}
	// Loaded here, before anything starts: ServeTLS read the pair only
	// once the collector was up, and its error named neither flag. Then
	// re-read when the files change, as the injector's: the pair was
	// read once, so a renewed certificate (cert-manager, a mounted
	// Secret) was not served until a restart, and once the old one
	// expired every sidecar's batch failed its handshake and spooled
	// (TestCollectorServesRenewedCertificate).
	certs := &certFiles{cert: c.tlsCert, key: c.tlsKey, log: log.With().Str("component", "collector").Logger()}
	if _, err := certs.get(nil); err != nil {
		return nil, nil, nil, err // it names --tls-cert and --tls-key
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: dataplane.TLS12Suites(), GetCertificate: certs.get,
		NextProtos: []string{"http/1.1"}} // as ServeTLS sets it for HTTP/1.1 only, which GetConfigForClient's would not have
	if c.clientCA == "" {
		return cfg, nil, nil, nil
	}
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	var crl *intakeCRL
	if c.clientCRL != "" {
		pem, err := durable.ReadPEM(c.clientCA)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("cannot read --client-ca %q: %w", c.clientCA, err)
		}
		if crl, err = loadIntakeCRL(c.clientCRL, c.clientCA, pem, log); err != nil {
			return nil, nil, nil, err
		}
		// After the chain is verified, on every handshake, resumed
		// ones too (crypto/tls, Config.VerifyConnection).
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.VerifiedChains) == 0 {
				return nil // no certificate: a token authenticates, or nothing does
			}
			return crl.refuse(cs.VerifiedChains)
		}
	}
	// The CAs are re-read when the file changes, as the injector's
	// --client-ca: read at start only, a CA rotation took a restart, and
	// until then every sender certificate of the new CA was refused at
	// the handshake (TestCollectorRereadsClientCA).
	cas := &clientCAFile{path: c.clientCA, log: log.With().Str("component", "collector").Logger(), base: cfg.Clone()}
	if crl != nil {
		// The CRLs of the CAs, read again as soon as they change: a CA
		// added to the file was trusted up to one --client-crl-reload
		// before its CRL was read (TestCollectorClientCRLReadWithNewCA).
		cas.changed = crl.reloadNow
	}
	if _, err := cas.config(nil); err != nil {
		return nil, nil, nil, err
	}
	cfg.GetConfigForClient = cas.config
	// A request is checked against the CAs in force too: a connection
	// kept alive since before a CA was taken out of the file does not
	// go on authenticating as its certificate's sender.
	refused := func(chains [][]*x509.Certificate) bool {
		cur, err := cas.config(nil)
		if err != nil || !chainVerifies(chains, cur.ClientCAs) {
			return true
		}
		return crl != nil && crl.refuse(chains) != nil
	}
	return cfg, crl, refused, nil
}

// chainVerifies reports whether the client certificate of a
// connection's verified chains verifies against roots now, by any of
// them (a cross-signed CA gives more than one).
func chainVerifies(chains [][]*x509.Certificate, roots *x509.CertPool) bool {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return false
	}
	inter := x509.NewCertPool()
	for _, chain := range chains {
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
	}
	_, err := chains[0][0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil
}
