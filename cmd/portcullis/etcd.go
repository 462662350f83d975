package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The subcommands that change and read the policy state in etcd share
// the machinery in this file: their flags (etcdFlags, which hold the
// connection flags every command that reaches etcd shares, etcdConnFlags),
// the parsing, connecting and error reporting (etcdCmd.main). Each lives in
// the file of its group (keys.go, policy.go, ...); the logic is
// etcdadmin.Admin.

// etcdCommand makes c, an etcd subcommand with the full name name ("keys
// revoke"), a command of the table.
func etcdCommand(name, summary string, c etcdCmd) command {
	c.name = name
	return command{run: func(args []string) int { return c.main(args, stdout, os.Stderr) }, summary: summary, etcd: &c}
}

// etcdFlags are the flags every etcd subcommand takes: the shared
// connection flags (etcdConnFlags) with the --etcd default from
// $PORTCULLIS_ETCD, --timeout and --json; a change adds --actor, --reason
// and --ticket.
type etcdFlags struct {
	etcd                  etcdConnFlags
	actor, reason, ticket string
	timeout               time.Duration
	json                  bool
	now                   func() time.Time // tests only, no flag: the Admin's clock (etcdCmd.now)
}

func (f *etcdFlags) register(fs *flag.FlagSet, change bool) {
	def := os.Getenv("PORTCULLIS_ETCD")
	if def == "" {
		def = "127.0.0.1:2379"
	}
	fs.StringVar(&f.etcd.endpoints, "etcd", def, "etcd `endpoints`, comma-separated (default $PORTCULLIS_ETCD, else 127.0.0.1:2379)")
	f.etcd.registerConn(fs)
	for _, a := range [][2]string{{"cacert", "etcd-cacert"}, {"cert", "etcd-cert"}, {"key", "etcd-key"}, {"user", "etcd-user"}, {"password", "etcd-password"}} {
		alias(fs, a[0], a[1])
	}
	fs.Lookup("password").Usage = deprecatedPrefix + "PORTCULLIS_ETCD_PASSWORD"
	if change {
		fs.StringVar(&f.actor, "actor", "", "`who` makes the change, for the record (default: the OS account)")
		fs.StringVar(&f.reason, "reason", "", "`why` the change is made, for the record")
		fs.StringVar(&f.ticket, "ticket", "", "change `ticket` of the change")
	}
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for etcd")
	fs.BoolVar(&f.json, "json", false, "print JSON")
}

func (f *etcdFlags) config() etcdsync.Config {
	c := f.etcd.config()
	c.DialTimeout = f.timeout
	return c
}

// meta is who makes the change and why; the etcd user, when etcd
// authentication is used, is recorded beside the actor.
func (f *etcdFlags) meta() etcdadmin.Meta {
	return redactMeta(etcdadmin.Meta{Actor: f.actor, Reason: f.reason, Ticket: f.ticket, EtcdUser: f.etcd.conn.User()})
}

// redactMeta returns m with what reads as a credential in its texts
// replaced by credential.Redacted, by the collector's rules for free text
// (collector.RedactText: an API key's secret, a JWT, a bearer or basic
// token, one of these encoded; a pair whose name names a credential,
// "api_key=abc123"; a secret after such a name in prose, "password
// hunter2"). They go to etcd in the clear, in the change's record and its
// lifecycle event, and from there into the collector's hash-chained
// trail, where nothing takes them out, and into the tickets of an alert
// they are a reason of: a key pasted into keys revoke --reason stayed
// there for good (TestPastedSecretNeverReachesEtcd), and so did a
// password written in prose while only the shapes were cleared
// (TestPastedProseSecretNeverReachesEtcd).
func redactMeta(m etcdadmin.Meta) etcdadmin.Meta {
	m.Actor, m.Reason, m.Ticket = collector.RedactText(m.Actor), collector.RedactText(m.Reason), collector.RedactText(m.Ticket)
	return m
}

// osAccount returns the name of the OS account running the command, or "".
func osAccount() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// etcdCmd is one etcd subcommand: its own flags, its positional arguments
// and what it does with an Admin.
type etcdCmd struct {
	name   string
	args   []string                 // names of the positional arguments, all required
	flags  func(fs *flag.FlagSet)   // its own flags, if any
	check  func(f *etcdFlags) error // usage checks beyond the arguments
	change bool                     // a change: takes --actor, --reason and --ticket
	run    func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error
	now    func() time.Time // tests only: a simulated clock for the Admin (nil: time.Now)
}

// main parses args (flags may follow the positional arguments), connects
// and runs the command: exit 2 on a usage error, 1 on a failure.
func (c etcdCmd) main(args []string, stdout, stderr io.Writer) int {
	f := etcdFlags{now: c.now}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	f.register(fs, c.change)
	if c.flags != nil {
		c.flags(fs)
	}
	pos, code, ok := parseArgs(fs, args, strings.Join(c.args, " "), len(c.args), stdout, stderr)
	if !ok {
		return code
	}
	if code, ok := checkStdinArg(c.name, c.args, pos, stderr); !ok {
		return code
	}
	if err := c.usage(&f); err != nil {
		return usageError(stderr, c.name, err)
	}
	if c.change {
		writeErrorsOnBrokenPipe()
	}
	if err := c.connectAndRun(&f, pos, stdout); err != nil {
		if errors.Is(err, errExit1) {
			// It said what it had to on stdout, if that was written.
			if werr := writeFailed(stdout); werr != nil {
				fmt.Fprintf(stderr, "portcullis %s: cannot write to stdout: %v\n", c.name, werr)
			}
			return 1
		}
		fmt.Fprintf(stderr, "portcullis %s: %v\n", c.name, err)
		return 1
	}
	return 0
}

// errZeroTimeout refuses --timeout 0s: the command failed at once with
// "context deadline exceeded (is etcd up ...?)", with etcd up.
var errZeroTimeout = errors.New("--timeout 0s: no time to reach etcd; give how long to wait, e.g. 10s")

// errExit1 makes a command exit 1 without a message: it said what it had
// to on stdout (policy diff on a difference).
var errExit1 = errors.New("exit 1")

// usage checks the flags.
func (c etcdCmd) usage(f *etcdFlags) error {
	if c.change && f.actor == "" {
		if f.actor = osAccount(); f.actor == "" {
			return errors.New("--actor is required: the OS account has no name; say who makes the change")
		}
	}
	switch {
	case len(f.config().Endpoints) == 0:
		return errors.New("--etcd names no endpoint; give host:port")
	case f.timeout == 0:
		return errZeroTimeout
	case c.check != nil:
		return c.check(f)
	}
	return nil
}

func (c etcdCmd) connectAndRun(f *etcdFlags, pos []string, stdout io.Writer) error {
	return withAdmin(f, func(ctx context.Context, a *etcdadmin.Admin) error { return c.run(ctx, a, f, pos, stdout) })
}

// printJSON prints v as indented JSON, escaped for a terminal
// (escapeUnprintable): the --format json and --json outputs.
func printJSON(out io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := out.Write(escapeUnprintable(b.Bytes()))
	return err
}

// escapeUnprintable returns the JSON text j with each character at or
// above DEL that alert.PlainText would replace (DEL, a C1 control such as
// CSI U+009B, a bidirectional control), which encoding/json leaves as it
// is, written as \uXXXX: it decodes to the same text, and a terminal the
// output is printed to acts on none. encoding/json escapes C0 controls
// itself; outside a string JSON holds only ASCII, so each such character
// is in a string.
func escapeUnprintable(j []byte) []byte {
	out := j[:0:0]
	last := 0
	for i := 0; i < len(j); {
		c, n := utf8.DecodeRune(j[i:])
		if c >= 0x7f && alert.Unprintable(c) {
			out = append(out, j[last:i]...)
			out = fmt.Appendf(out, `\u%04x`, c)
			last = i + n
		}
		i += n
	}
	if last == 0 {
		return j
	}
	return append(out, j[last:]...)
}

// errOrJSON returns err if it is set, else prints v as JSON: the --json
// output of a command that reads one value from etcd.
func errOrJSON(err error, out io.Writer, v any) error {
	if err != nil {
		return err
	}
	return printJSON(out, v)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func needReason(f *etcdFlags) error {
	if f.reason == "" {
		return errors.New("--reason is required; say why, for the record")
	}
	return nil
}

// withAdmin connects to etcd as ef says and calls fn with an Admin.
func withAdmin(ef *etcdFlags, fn func(ctx context.Context, a *etcdadmin.Admin) error) error {
	if len(ef.config().Endpoints) == 0 {
		return errors.New("--etcd names no endpoint; give host:port")
	}
	cli, err := etcdsync.Dial(ef.config())
	if err != nil {
		return etcdHint(err, ef)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ef.timeout)
	defer cancel()
	a := etcdadmin.New(cli, ef.etcd.prefix)
	if ef.now != nil {
		a = a.WithClock(ef.now)
	}
	return etcdHint(fn(ctx, a), ef)
}

// fixedErr is an error a command gave its fix to, more precise than
// etcdHint's: etcdHint passes it on as it is.
type fixedErr struct {
	err error
	fix string
}

func (e *fixedErr) Error() string { return e.err.Error() + ": " + e.fix }
func (e *fixedErr) Unwrap() error { return e.err }

// etcdHint adds the fix to the etcd errors an operator can fix with a
// flag or the environment, and to a write whose answer was lost how to
// find out whether it was applied.
func etcdHint(err error, ef *etcdFlags) error {
	switch {
	case errors.As(err, new(*fixedErr)):
		return err // says its fix already
	case errors.Is(err, etcdadmin.ErrWriteUnknown):
		return fmt.Errorf("%w; check with portcullis events list (and keys list or policy history) before running it again", err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w (is etcd up at %s? set --etcd or PORTCULLIS_ETCD)", err, ef.etcd.endpoints)
	case errors.Is(err, rpctypes.ErrUserEmpty):
		return fmt.Errorf("%w (etcd wants a user: give --etcd-user and set PORTCULLIS_ETCD_PASSWORD)", err)
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return fmt.Errorf("%w (check --etcd-user and PORTCULLIS_ETCD_PASSWORD)", err)
	case errors.Is(err, etcdadmin.ErrTicketRequired):
		return fmt.Errorf("%w: give --ticket with the change ticket, e.g. --ticket CHG-1234", err)
	case errors.Is(err, etcdadmin.ErrKeyLifetime):
		return fmt.Errorf("%w: give a shorter --ttl, or none for the policy's max_key_age", err)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("%w (etcd user %q may not use prefix %s)", err, ef.etcd.conn.User(), ef.etcd.prefix)
	}
	return err
}

// etcdConnFlags say how to reach etcd, with the flag names every
// command shares: --etcd, --prefix, --etcd-cacert, --etcd-cert,
// --etcd-key and --etcd-user; the password comes from
// PORTCULLIS_ETCD_PASSWORD. The sidecar and the collector use etcd only
// when --etcd is given.
type etcdConnFlags struct {
	endpoints string
	prefix    string
	conn      etcdsync.Config
}

func (f *etcdConnFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.endpoints, "etcd", "", "etcd `endpoints`, comma-separated (etcd mode)")
	f.registerConn(fs)
}

// registerConn registers every etcd flag but --etcd.
func (f *etcdConnFlags) registerConn(fs *flag.FlagSet) {
	fs.StringVar(&f.prefix, "prefix", etcdsync.DefaultPrefix, "etcd key `prefix` of this deployment")
	fs.StringVar(&f.conn.CACert, "etcd-cacert", "", "PEM `file` of the CA that signed the etcd server certificates (the sidecar and the collector re-read it when it changes)")
	fs.StringVar(&f.conn.Cert, "etcd-cert", "", "PEM `file` of the etcd client certificate (with --etcd-key)")
	fs.StringVar(&f.conn.Key, "etcd-key", "", "PEM `file` of the etcd client key")
	fs.StringVar(&f.conn.Username, "etcd-user", "", "etcd `user`; the password is read from PORTCULLIS_ETCD_PASSWORD")
	fs.StringVar(&f.conn.Password, "etcd-password", "", deprecatedPrefix+"PORTCULLIS_ETCD_PASSWORD")
}

// checkFiles refuses an etcd TLS file that is not a regular file
// (checkFlagFiles).
func (f *etcdConnFlags) checkFiles() error {
	return checkFlagFiles("etcd-cacert", f.conn.CACert, "etcd-cert", f.conn.Cert, "etcd-key", f.conn.Key)
}

// config returns the etcd client configuration, the password taken from
// PORTCULLIS_ETCD_PASSWORD unless the deprecated flag gave one.
func (f *etcdConnFlags) config() etcdsync.Config {
	conn := f.conn
	conn.Endpoints = nil
	for _, e := range strings.Split(f.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			conn.Endpoints = append(conn.Endpoints, e)
		}
	}
	if conn.Password == "" {
		conn.Password = os.Getenv("PORTCULLIS_ETCD_PASSWORD")
	}
	return conn
}

// dialEtcd connects with the etcd flags.
func dialEtcd(f etcdConnFlags) (*clientv3.Client, error) {
	return etcdsync.Dial(f.config())
}

// dialEtcdRenewing connects as dialEtcd, for a command that runs until
// stopped (the sidecar, the collector): each new connection presents the
// pair --etcd-cert and --etcd-key hold then, re-read when they change as
// the collector's --tls-cert (certFiles), the pair in force kept while
// they cannot be loaded, with one warn line. Read once at start, a
// renewed certificate (cert-manager) was presented only after a restart,
// and once the old one expired, or its CA left etcd's trust, every
// reconnection failed: the sidecar's watch and member record stopped
// (TestEtcdClientPresentsRenewedCertificate). Each new connection also
// verifies etcd's certificate with the CAs --etcd-cacert holds then
// (caBundle): read once, a rotated etcd CA took a restart of every
// sidecar and collector (TestEtcdClientRereadsCACert).
func dialEtcdRenewing(f etcdConnFlags, log zerolog.Logger) (*clientv3.Client, error) {
	c := f.config()
	if c.Cert != "" && c.Key != "" {
		certs := &certFiles{cert: c.Cert, key: c.Key, flags: [2]string{"etcd-cert", "etcd-key"}, log: log.With().Str("component", "etcd").Logger()}
		if _, err := certs.get(nil); err != nil {
			return nil, err
		}
		c.ClientCertificate = func() (*tls.Certificate, error) { return certs.get(nil) }
	}
	if c.CACert != "" {
		cas := &caBundle{flag: "etcd-cacert", path: c.CACert, log: log.With().Str("component", "etcd").Logger()}
		if _, err := cas.pool(); err != nil {
			return nil, err
		}
		c.RootCAs = cas.pool
	}
	return etcdsync.Dial(c)
}
