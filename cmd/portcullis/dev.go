package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/examples"
	"github.com/portcullis/portcullis/examples/upstream"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// devFlags are the flags of `portcullis dev`.
type devFlags struct {
	data, policy, listen, upstream, admin, collector, prefix, logLevel string
	etcdBin                                                            string           // path of portcullis-dev ("" finds it)
	out                                                                io.Writer        // where the stack's addresses are printed (stdout)
	clock                                                              func() time.Time // tests only, no flag: the collector's clock (nil: time.Now)
}

func runDev(args []string) int {
	// SIGHUP (the terminal dev runs in closed) stops dev as Ctrl-C does,
	// drained: its default action killed dev at once, exit 129, the
	// records the sidecar had not yet sent lost and the store's head not
	// signed at close (TestDevStopsDrainedOnHangup). It is caught before
	// anything else and stays caught until the process exits, one channel
	// never let go (ignoreHangup says why).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
	writeErrorsOnBrokenPipe() // a log reader gone kills no server
	f := devFlags{out: stdout}
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.StringVar(&f.data, "data", "dev-data", "`directory` for etcd, the audit store, keys and state")
	fs.StringVar(&f.policy, "policy", "", "policy `file` pushed when etcd holds none (default: the built-in examples/policy.yaml)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:18080", "sidecar `address`")
	fs.StringVar(&f.upstream, "upstream", "127.0.0.1:18081", "demo service `address`")
	fs.StringVar(&f.admin, "admin", "127.0.0.1:19901", "sidecar admin `address`")
	fs.StringVar(&f.collector, "collector", "127.0.0.1:18090", "collector `address`")
	fs.StringVar(&f.prefix, "prefix", etcdsync.DefaultPrefix, "etcd key `prefix`")
	fs.StringVar(&f.etcdBin, "etcd-bin", "", "`path` of the portcullis-dev binary that runs etcd (default: next to portcullis, else in PATH)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if err := checkLogLevel(f.logLevel); err != nil {
		return usageError(os.Stderr, fs.Name(), err)
	}
	if err := checkDevPolicy(f.policy); err != nil {
		return usageError(os.Stderr, fs.Name(), err)
	}
	for _, a := range f.addrs() {
		if !isHostPort(a.addr) {
			return usagef(os.Stderr, fs.Name(), "%s %s: want host:port, e.g. 127.0.0.1:28080", a.flag, a.addr)
		}
	}
	log := newLogger(f.logLevel)
	devTicketSecret(log)
	return runUntilSignal(log, "dev stopped", func(ctx context.Context) error { return dev(ctx, f, log) }, syscall.SIGHUP)
}

// checkDevPolicy reads and compiles the --policy file before anything
// starts. It was read only once etcd was up, so a missing or broken file
// failed the run after etcd had started and left its data in --data.
func checkDevPolicy(path string) error {
	if path == "" {
		return nil
	}
	data, err := readPolicyFile(path)
	if err != nil {
		return fmt.Errorf("--policy: %w", err)
	}
	if _, err := compilePolicy(path, data); err != nil {
		problems := strings.Split(strings.TrimSpace(err.Error()), "\n")
		return fmt.Errorf("--policy %s is not a valid policy: %s (%d problem(s) in all; portcullis policy validate %s lists them)", path, problems[0], len(problems), path)
	}
	return nil
}

// devTicketEnv holds the secret of the example policy's secops ticket sink
// (secret: "env:PORTCULLIS_TICKET_SECRET").
const devTicketEnv = "PORTCULLIS_TICKET_SECRET"

// devTicketSecret gives the example policy's ticket sink a random secret
// for this run when the environment has none: without one the collector
// left the sink out and dev started with an error line. A receiver that
// verifies the deliveries (make demo's) sets its own.
func devTicketSecret(log zerolog.Logger) {
	if os.Getenv(devTicketEnv) != "" {
		return
	}
	var b [32]byte
	rand.Read(b[:])
	os.Setenv(devTicketEnv, hex.EncodeToString(b[:]))
	log.Info().Msg(devTicketEnv + " is not set: the example policy's ticket sink signs with a random secret for this run; set it to verify the deliveries")
}

// dev starts the whole stack: etcd (portcullis-dev, a child process) with
// the policy pushed, and in this process the collector following etcd's
// lifecycle events, the demo service and a sidecar watching etcd and
// auditing to the collector.
func dev(ctx context.Context, f devFlags, log zerolog.Logger) error {
	if err := checkDevAddrs(f); err != nil {
		return err
	}
	made := devMakes(f.data)
	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return fmt.Errorf("cannot create %q: %w", f.data, err)
	}
	unlock, err := lockDevData(f.data)
	if err != nil {
		return err
	}
	defer unlock()
	etcd, err := startDevEtcd(ctx, f.etcdBin, filepath.Join(f.data, "etcd"))
	if err != nil && ctx.Err() != nil {
		log.Info().Err(err).Msg("dev stopped while etcd was starting")
		return removeMade(nil, made)
	}
	if err != nil {
		return removeMade(err, made) // under the lock: no other dev uses them
	}
	defer etcd.stop()
	endpoints := strings.Join(etcd.endpoints, ",")
	if err := os.WriteFile(filepath.Join(f.data, "etcd-endpoints"), []byte(endpoints), 0o600); err != nil {
		return err
	}
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: etcd.endpoints})
	if err != nil {
		return err
	}
	defer logClose(cli, &log, "etcd client")
	admin := etcdadmin.New(cli, f.prefix)
	if err := pushIfEmpty(ctx, admin, f.policy, log); err != nil {
		return err
	}
	token, closeCollector, err := devCollector(ctx, f, admin, log)
	if err != nil {
		return err
	}
	defer closeCollector() // after the sidecar has flushed its audit batches
	stopUpstream, err := serveDevUpstream(f.upstream, log)
	if err != nil {
		return err
	}
	defer stopUpstream()
	log.Info().Str("etcd", endpoints).Str("sidecar", f.listen).Str("collector", f.collector).Str("upstream", f.upstream).Msg("dev stack up")
	printDevStack(f, endpoints)
	return sidecar(ctx, sidecarFlags{
		listen: f.listen, upstream: f.upstream, admin: f.admin, collector: "http://" + f.collector,
		spoolDir: filepath.Join(f.data, "spool"), tokenFile: token,
		etcd: etcdConnFlags{endpoints: endpoints, prefix: f.prefix}, stateDir: filepath.Join(f.data, "state"),
		pod: "dev", drain: 5 * time.Second,
	}, log)
}

// devMakes lists what a dev run is about to make of --data dir: the
// topmost directory of it that does not exist yet, else the lock file and
// etcd's directory if they do not. A run whose etcd does not start
// removes them (removeMade): one without portcullis-dev left an empty data
// directory behind (TestDevWithoutEtcdLeavesNothing).
func devMakes(dir string) []string {
	if top := topMissing(dir); top != "" {
		return []string{top}
	}
	var made []string
	for _, p := range []string{filepath.Join(dir, devLock), filepath.Join(dir, "etcd")} {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			made = append(made, p)
		}
	}
	return made
}

// topMissing returns the topmost directory of the path dir that does not
// exist ("" when dir exists): what os.MkdirAll(dir) creates first.
func topMissing(dir string) string {
	top := ""
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			return top
		}
		top = p
		if filepath.Dir(p) == p {
			return top
		}
	}
}

// removeMade removes the paths devMakes listed and returns err, naming
// those it could not remove.
func removeMade(err error, made []string) error {
	var left []string
	for _, p := range made {
		if rerr := os.RemoveAll(p); rerr != nil {
			left = append(left, fmt.Sprintf("%s (%v)", p, rerr))
		}
	}
	switch {
	case len(left) > 0 && err == nil:
		return fmt.Errorf("left behind what it made: %s", strings.Join(left, ", "))
	case len(left) > 0:
		return fmt.Errorf("%w; it left behind what it made: %s", err, strings.Join(left, ", "))
	}
	return err
}

// devLock is the file in --data that a running portcullis dev holds locked.
const devLock = "dev.lock"

// lockDevData takes the data directory for this process, or says which
// other one has it. A second portcullis dev on the same --data froze for
// ever without a word, its etcd waiting on the first's database lock, and
// did not stop on SIGTERM, which it caught while it waited.
func lockDevData(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, devLock)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open the lock %q of --data: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("--data %s is in use by another portcullis dev (it holds %s): stop that one, or give this one another --data and other addresses", dir, path)
		}
		return nil, fmt.Errorf("cannot lock --data %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

// devAddr is one address of the stack and the flag that sets it.
type devAddr struct{ flag, addr string }

// addrs lists the addresses the stack listens on.
func (f devFlags) addrs() []devAddr {
	return []devAddr{{"--listen", f.listen}, {"--admin", f.admin}, {"--upstream", f.upstream}, {"--collector", f.collector}}
}

// checkDevAddrs listens on every address of the stack at once, then lets
// go, so that one in use (or two flags on one address) fails the run
// before etcd starts. It was found only once etcd ran, the policy was
// pushed and "dev stack up" printed with the export line; an --upstream
// in use was only logged, and the sidecar forwarded what it admitted,
// with the identity headers, to whatever held that port
// (TestDevAddressInUseFailsBeforeStarting).
func checkDevAddrs(f devFlags) error {
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	for _, a := range f.addrs() {
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			return fmt.Errorf("cannot listen on %s %s: %w; give it another address", a.flag, a.addr, err)
		}
		held = append(held, ln)
	}
	return nil
}

// serveDevUpstream serves the demo service on addr and returns the function
// that stops it and waits for it. An address it cannot listen on is an
// error: the sidecar would forward to whatever holds it.
func serveDevUpstream(addr string, log zerolog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on --upstream %s for the demo service: %w", addr, err)
	}
	up := &fasthttp.Server{Handler: upstream.Handler}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := up.Serve(ln); err != nil {
			log.Error().Err(err).Msg("demo service stopped")
		}
	}()
	return func() {
		if err := up.Shutdown(); err != nil {
			log.Warn().Err(err).Msg("demo service shutdown")
		}
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Warn().Err(err).Msg("closing the demo service listener")
		}
		<-done
	}, nil
}

// printDevStack prints where the stack listens, and how to point the other
// commands at its etcd.
func printDevStack(f devFlags, endpoints string) {
	if f.out == nil {
		return
	}
	fmt.Fprintf(f.out, "portcullis dev: sidecar http://%s (admin http://%s), demo service %s, collector http://%s\n", f.listen, f.admin, f.upstream, f.collector)
	fmt.Fprintf(f.out, "portcullis dev: etcd %s, prefix %s; for the other commands:\n  export PORTCULLIS_ETCD=%s\n", endpoints, f.prefix, endpoints)
}

func pushIfEmpty(ctx context.Context, admin *etcdadmin.Admin, path string, log zerolog.Logger) error {
	if _, rev, err := admin.GetPolicy(ctx); err == nil {
		log.Info().Int64("revision", rev).Msg("etcd already holds a policy")
		return nil
	} else if !errors.Is(err, etcdadmin.ErrNotFound) {
		return err
	}
	doc, name := examples.Policy, "built-in examples/policy.yaml"
	if path != "" {
		var err error
		if doc, err = readPolicyFile(path); err != nil {
			return err
		}
		name = path
	}
	rev, err := admin.PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "portcullis-dev", Reason: "initial policy for the dev stack", Ticket: "DEV-1"})
	if err != nil {
		return err
	}
	log.Info().Str("policy", name).Int64("revision", rev).Msg("policy pushed")
	return nil
}

// devHeadFile is where portcullis dev publishes the collector's signed
// head besides etcd, in its data directory.
const devHeadFile = "published-head.json"

// devCollector starts the collector with a signing key and a bearer token
// made on first run, and returns the token file for the sidecar and a
// function that stops the collector.
func devCollector(ctx context.Context, f devFlags, admin *etcdadmin.Admin, log zerolog.Logger) (string, func(), error) {
	keyFile, tokenFile := filepath.Join(f.data, "audit-signing.key"), filepath.Join(f.data, "collector-token")
	if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) {
		if err := collector.GenerateKey(keyFile); err != nil {
			return "", nil, err
		}
	}
	if _, err := os.Stat(tokenFile); errors.Is(err, os.ErrNotExist) {
		var b [24]byte
		rand.Read(b[:])
		if err := os.WriteFile(tokenFile, []byte(hex.EncodeToString(b[:])), 0o600); err != nil {
			return "", nil, err
		}
	}
	key, err := collector.LoadPrivateKey(keyFile)
	if err != nil {
		return "", nil, err
	}
	tokens, err := readTokens("token-file", tokenFile)
	if err != nil {
		return "", nil, err
	}
	var det detection // the policy's detection rules, tickets and rule actions (issue 14)
	store, err := collector.OpenStore(filepath.Join(f.data, "audit"), collector.StoreConfig{SigningKey: key, Detection: det.hooks(), Now: f.clock,
		OnAnchor: func(what string) { log.Warn().Msg(what) }})
	if err != nil {
		return "", nil, err
	}
	// The head is signed and published as a deployment's collector does:
	// to etcd, and to a file the demo's audit verify and evidence pack
	// check the store against once etcd has stopped (a file beside the
	// store is rolled back with it: in production it goes elsewhere).
	pubs := []collector.HeadPublisher{admin, collector.FileAnchor(filepath.Join(f.data, devHeadFile))}
	if _, err := store.CheckAnchors(ctx, pubs, 10*time.Second, false); err != nil {
		return "", nil, errors.Join(err, store.Close())
	}
	if err := det.start(ctx, "", admin, "the dev etcd", filepath.Join(f.data, "audit"), store, &log); err != nil {
		return "", nil, errors.Join(err, store.Close())
	}
	col, err := collector.New(store, collector.Config{Tokens: tokens, Log: &log, Now: f.clock})
	if err != nil {
		return "", nil, errors.Join(err, store.Close())
	}
	ln, err := net.Listen("tcp", f.collector)
	if err != nil {
		return "", nil, errors.Join(fmt.Errorf("cannot listen on %q: %w", f.collector, err), store.Close())
	}
	srv := col.HTTPServer()
	fctx, cancel := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("dev collector stopped")
		}
	})
	bg.Go(func() { collector.ForwardEvents(fctx, admin, store, filepath.Join(f.data, "events.rev"), log) })
	bg.Go(func() {
		store.RunHeadSigner(fctx, time.Minute, pubs, func(err error) { log.Error().Err(err).Msg("signed head") })
	})
	return tokenFile, func() {
		cancel()
		if err := srv.Close(); err != nil {
			log.Warn().Err(err).Msg("closing the dev collector")
		}
		bg.Wait()
		publishFinalHead(store, pubs, &log) // closes the store
	}, nil
}
