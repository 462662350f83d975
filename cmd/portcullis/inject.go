package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/dataplane"
	"github.com/portcullis/portcullis/inject"
	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/internal/reload"
	"github.com/portcullis/portcullis/internal/serverlog"
	"github.com/portcullis/portcullis/policy"
)

// `portcullis inject` and `portcullis injector`: the Kubernetes sidecar
// injection of package inject, offline and as an admission webhook.

// injectConfig loads --config (built-in defaults without it) and applies
// --legacy and --sidecar-image.
func injectConfig(path string, legacy bool, image string) (inject.Config, error) {
	c, err := inject.LoadConfig(path)
	if legacy {
		c.Legacy = true
	}
	if image != "" {
		c.Image = image
	}
	return c, err
}

func runInject(args []string) int {
	fs := flag.NewFlagSet("inject", flag.ContinueOnError)
	file := fs.String("f", "", "manifest `file` to inject (YAML, several documents, or JSON; at most 64 MiB); - reads stdin")
	output := fs.String("o", "yaml", "output `format`: yaml or json")
	config := fs.String("config", "", "injector config `file` (default: built-in, as deploy/kubernetes/injector-config.yaml)")
	legacy := fs.Bool("legacy", false, "add the sidecar as a regular container with a preStop sleep (clusters before 1.29, no native sidecars)")
	image := fs.String("sidecar-image", "", "the sidecar's `image` (overrides image: of the config)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	switch {
	case *file == "":
		return usagef(os.Stderr, fs.Name(), "-f FILE is required; name the manifest, or - for stdin")
	case *output != "yaml" && *output != "json":
		return usagef(os.Stderr, fs.Name(), "-o %s: want yaml or json", *output)
	case *file == "-" && isTerminal(os.Stdin):
		// It waited for a manifest typed in, without a word.
		return usagef(os.Stderr, fs.Name(), "-f - reads stdin, which is a terminal; pipe the manifest in (kustomize build | portcullis inject -f -) or give -f FILE")
	}
	c, err := injectConfig(*config, *legacy, *image)
	if err != nil {
		fmt.Fprintf(os.Stderr, "portcullis inject: %v\n", err)
		return 1
	}
	if err := injectFile(c, *file, *output, os.Stdin, stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "portcullis inject: %v\n", err)
		return 1
	}
	return 0
}

// injectFile injects the manifest in file (or stdin for "-") to stdout
// and prints the warnings on stderr.
func injectFile(c inject.Config, file, format string, stdin io.Reader, stdout, stderr io.Writer) error {
	name := file
	if file == "-" {
		name = "stdin"
	}
	data, err := readManifest(file, stdin)
	if err != nil {
		return fmt.Errorf("cannot read manifest -f %s: %w", name, err)
	}
	warnings, err := c.Inject(bytes.NewReader(data), stdout, format)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "portcullis inject: %s\n", w)
	}
	if errors.Is(err, inject.ErrEmptyManifest) {
		return fmt.Errorf("%s is empty: no manifest to inject (no YAML or JSON document in it)", name)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// maxManifestBytes caps the manifest inject reads, as a policy document
// is capped: a manifest of a whole cluster is a few MiB, and a larger
// input (a log piped in by mistake, /dev/zero) was read into memory until
// it ran out.
const maxManifestBytes = policy.MaxDocumentBytes

// readManifest reads the manifest -f names, at most maxManifestBytes:
// stdin for "-", a regular file refused at once when it is larger, a pipe
// (a shell's <(kustomize build)) read up to the cap.
func readManifest(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		return durable.ReadAllMax(stdin, maxManifestBytes)
	}
	if fi, err := os.Stat(file); err == nil && fi.Mode().IsRegular() {
		return durable.ReadRegularMax(file, maxManifestBytes)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return durable.ReadAllMax(f, maxManifestBytes)
}

type injectorFlags struct {
	listen, tlsCert, tlsKey, clientCA, config, logLevel, image string
	metricsListen                                              string
	legacy                                                     bool
}

func runInjector(args []string) int {
	writeErrorsOnBrokenPipe() // a log reader gone kills no server
	var f injectorFlags
	fs := flag.NewFlagSet("injector", flag.ContinueOnError)
	fs.StringVar(&f.listen, "listen", ":9443", "`address` to serve the webhook on (HTTPS)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM `file` of the webhook's certificate (re-read when it changes)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM `file` of its key")
	fs.StringVar(&f.metricsListen, "metrics-listen", "", "`address` serving /metrics (the Go runtime's and the process's) and /healthz over HTTP, without authentication (default: none)")
	fs.StringVar(&f.clientCA, "client-ca", "", "PEM `file` of the CAs of the API server's client certificate: when given, a connection without a certificate they verify is refused at the handshake (re-read when it changes)")
	fs.StringVar(&f.config, "config", "", "injector config `file` (default: built-in, as deploy/kubernetes/injector-config.yaml)")
	fs.BoolVar(&f.legacy, "legacy", false, "add the sidecar as a regular container (clusters before 1.29)")
	fs.StringVar(&f.image, "sidecar-image", "", "the sidecar's `image` (overrides image: of the config; the kustomize base passes the injector's own)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if f.tlsCert == "" || f.tlsKey == "" {
		return usagef(os.Stderr, fs.Name(), "--tls-cert and --tls-key are required (the API server calls webhooks over HTTPS only)")
	}
	if err := checkListenAddrs("listen", f.listen, "metrics-listen", f.metricsListen); err != nil {
		return usageError(os.Stderr, fs.Name(), err)
	}
	log := newLogger(f.logLevel).With().Str("component", "injector").Logger()
	setGoMemoryLimit(log, cgroupRoot, cgroupSelf)
	defer ignoreHangup(log, "the injector re-reads its certificate files when they change")()
	return runUntilSignal(log, "injector stopped", func(ctx context.Context) error { return serveInjector(ctx, f, log) })
}

// serveInjector serves the webhook until ctx ends, then lets in-flight
// reviews finish.
func serveInjector(ctx context.Context, f injectorFlags, log zerolog.Logger) error {
	c, err := injectConfig(f.config, f.legacy, f.image)
	if err != nil {
		return err
	}
	certs := &certFiles{cert: f.tlsCert, key: f.tlsKey, log: log}
	if _, err := certs.get(nil); err != nil {
		return err
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: dataplane.TLS12Suites(), GetCertificate: certs.get,
		NextProtos: inject.NextProtos()}
	if f.clientCA != "" {
		tlsConfig.ClientAuth = tls.RequireAndVerifyClientCert
		cas := &clientCAFile{path: f.clientCA, log: log, base: tlsConfig.Clone()}
		if _, err := cas.config(nil); err != nil {
			return err
		}
		tlsConfig.GetConfigForClient = cas.config
	}
	wh := &inject.Webhook{Config: c, Log: func(r inject.Review) { logReview(log, r) }}
	if f.metricsListen != "" {
		stop, err := serveMetrics("injector", f.metricsListen, injectorMetricsHandler(), inject.MaxHeaderBytes,
			serverlog.New(log, nil, "injector metrics connection error (net/http; an accept error is retried)").Logger(), &log)
		if err != nil {
			return err
		}
		defer stop()
	}
	// Every pod reaches the webhook's port: its TLS handshake errors
	// were plain-text lines on stderr, one a connection at the
	// sender's rate (TestInjectorLogsConnectionErrorsAsJSON).
	errorLog := serverlog.New(log, nil, "injector connection error (net/http; an accept error is retried)").Logger()
	raw, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("cannot listen on --listen %q: %w", f.listen, err)
	}
	// The listener runs the handshakes (inject.TLSListener), so the
	// server's TLSConfig stays nil.
	ln := inject.NewTLSListener(raw, tlsConfig, errorLog.Printf)
	srv := &http.Server{Handler: wh.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		MaxHeaderBytes: inject.MaxHeaderBytes, HTTP2: inject.HTTP2(), ErrorLog: errorLog, ConnState: ln.ConnState}
	log.Info().Str("listen", ln.Addr().String()).Bool("client_certificates", f.clientCA != "").Bool("legacy", c.Legacy).Str("image", c.Image).Msg("injector serving")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// injectorMetricsHandler serves the injector's --metrics-listen: the
// go_* and process_* families on /metrics (processMetrics), and /healthz.
// It had no /metrics: an injector nearing its 128Mi showed nothing before
// it was killed, and, failurePolicy Fail, pods of the labelled
// namespaces were not created meanwhile.
func injectorMetricsHandler() http.Handler {
	proc := processMetrics()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		switch r.URL.Path {
		case "/metrics":
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			proc(w)
		case "/healthz":
			io.WriteString(w, "ok\n")
		default:
			http.NotFound(w, r)
		}
	})
}

// logReview logs one admission review: who, what was done, never the pod.
func logReview(log zerolog.Logger, r inject.Review) {
	ev := log.Info()
	if r.Err != nil {
		ev = log.Warn().Err(r.Err)
	}
	ev.Str("uid", r.UID).Str("namespace", r.Namespace).Str("pod", r.Name).Bool("injected", r.Result.Injected).
		Str("skipped", r.Result.Skipped).Int("warnings", len(r.Result.Warnings)).Msg("admission review")
}

// certFiles serves a certificate from files, re-reading them when they
// change (reload.Value: cert-manager renews the Secret, the kubelet updates
// the mounted files). Files it cannot load while it serves an older
// certificate are logged once at warn, and their repair at info: a
// renewal that failed (a garbage or mismatched pair) kept the old
// certificate in service without a word until it expired and the API
// server's calls failed (TestInjectorLogsRefusedCertificateFiles).
type certFiles struct {
	cert, key string
	flags     [2]string // the flags naming cert and key; "" for --tls-cert and --tls-key
	log       zerolog.Logger
	files     reload.Value[*tls.Certificate]
}

func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.files.Get([]string{c.cert, c.key}, func() (*tls.Certificate, error) {
		cert, err := durable.LoadX509KeyPair(c.cert, c.key)
		if err != nil {
			certFlag, keyFlag := "tls-cert", "tls-key"
			if c.flags[0] != "" {
				certFlag, keyFlag = c.flags[0], c.flags[1]
			}
			return nil, fmt.Errorf("cannot load --%s %q and --%s %q: %w", certFlag, c.cert, keyFlag, c.key, err)
		}
		return &cert, nil
	}, func(err error) {
		c.log.Warn().Err(err).Str("tls_cert", c.cert).Msg("certificate files refused: still serving the certificate loaded before, until they hold a valid pair")
	}, func() { c.log.Info().Str("tls_cert", c.cert).Msg("certificate files loaded again") })
}

// clientCAFile serves the CAs of --client-ca, re-reading the file when it
// changes (reload.Value), as certFiles does the certificate: read at start
// only, a rotated CA of the API server's client certificate was
// required only after a restart, every review refused at the handshake
// until then (TestInjectorRereadsClientCA). A file it cannot load keeps
// the CAs loaded before, with one warn line. The collector's --client-ca
// is served the same way (TestCollectorRereadsClientCA).
type clientCAFile struct {
	path string
	log  zerolog.Logger
	base *tls.Config // the server's, ClientCAs set from the file
	pems reload.Value[*tls.Config]
	// changed, when set, is called when the file loads, before its CAs
	// are in force: the collector reads its --client-crl again then.
	changed func()
}

// config is the server's tls.Config's GetConfigForClient.
func (c *clientCAFile) config(*tls.ClientHelloInfo) (*tls.Config, error) {
	return c.pems.Get([]string{c.path}, func() (*tls.Config, error) {
		pool, err := loadCAs("client-ca", c.path)
		if err != nil {
			return nil, err
		}
		cfg := c.base.Clone()
		cfg.ClientCAs, cfg.GetConfigForClient = pool, nil
		if c.changed != nil {
			c.changed()
		}
		return cfg, nil
	}, func(err error) {
		c.log.Warn().Err(err).Str("flag", "--client-ca").Str("client_ca", c.path).Msg("client CA file refused: still requiring client certificates of the CAs loaded before, until it holds a valid one")
	}, func() {
		c.log.Info().Str("flag", "--client-ca").Str("client_ca", c.path).Msg("client CA file loaded again")
	})
}

// runWait is `portcullis wait DURATION`: the preStop hook of a legacy
// (regular container) sidecar, which has no shell or sleep in its image.
// The kubelet sends SIGTERM after the hook returns, so the sidecar keeps
// serving for DURATION while the endpoints drop the pod.
//
// With --listening ADDR it is the legacy sidecar's postStart hook: it
// returns once a TCP connection to ADDR succeeds (exit 0), or after
// DURATION (exit 1). The kubelet starts the next container only when the
// hook has returned, so the app cannot bind the sidecar's port first.
func runWait(args []string) int {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	listening := fs.String("listening", "", "wait until a TCP connection to `host:port` succeeds, at most DURATION (exit 1 if it never does)")
	for _, a := range args {
		if len(a) > 1 && a[0] == '-' && a[1] >= '0' && a[1] <= '9' { // -1s: a negative duration, not a flag
			return usagef(os.Stderr, fs.Name(), "%s: %v", a, errNegativeDuration)
		}
	}
	pos, code, ok := parseArgs(fs, args, "DURATION", 1, stdout, os.Stderr)
	if !ok {
		return code
	}
	d, err := parseDuration(pos[0])
	if err == nil && d < 0 {
		err = errNegativeDuration
	}
	if err != nil {
		return usagef(os.Stderr, fs.Name(), "%s: %v", pos[0], err)
	}
	if *listening != "" {
		if err := checkHostPort(*listening); err != nil {
			// Dialled as given, "nope" failed every 100ms until the
			// hook's whole DURATION had passed.
			return usagef(os.Stderr, fs.Name(), "--listening %q: %v", *listening, err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *listening != "" {
		return waitListening(ctx, *listening, d)
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	return 0
}

// checkHostPort checks that addr is host:port with a port number from 1
// to 65535 (the host may be empty: this host).
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q must be a number from 1 to 65535", port)
	}
	return nil
}

// waitListening dials addr every 100ms until a connection succeeds
// (0), or d passes or ctx ends (1, naming the last error).
func waitListening(ctx context.Context, addr string, d time.Duration) int {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var dialer net.Dialer
	for {
		c, err := dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = c.Close()
			return 0
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(os.Stderr, "portcullis wait: nothing listens on %s after %s: %v\n", addr, d, err)
			return 1
		case <-time.After(100 * time.Millisecond):
		}
	}
}
