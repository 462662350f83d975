package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/dataplane"
	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// The one style every command shares: flags may come anywhere among the
// arguments and are spelled --name; --help prints the usage on stdout and
// exits 0; a usage error is one line on stderr that names the problem and
// the fix, and exits 2; every duration flag accepts days ("90d").

// deprecatedPrefix starts the usage text of a hidden, deprecated flag
// spelling: the usage does not list it, and using it prints a warning.
const deprecatedPrefix = "deprecated: use "

// refusedPrefix starts the usage text of a hidden flag that is refused
// with a usage error naming the flag to use instead.
const refusedPrefix = "refused: use "

// alias registers old as a hidden, deprecated spelling of the flag name,
// sharing its value.
func alias(fs *flag.FlagSet, old, name string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("BUG: alias of unknown flag " + name)
	}
	fs.Var(f.Value, old, deprecatedPrefix+"--"+name)
}

// parseFlags parses args for a command that takes no positional
// arguments, printing help to stdout (stdout.go) and errors to os.Stderr. It
// returns the exit code to use and whether to go on.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	_, code, ok := parseArgs(fs, args, "", 0, stdout, os.Stderr)
	return code, ok
}

// parseArgs parses args into fs, flags anywhere among them, and returns
// the positional arguments, which must number exactly nargs (-1: any).
// argNames names them in the usage line. On --help it prints the usage to
// stdout and returns 0, false; on a usage error one line to stderr and 2,
// false.
func parseArgs(fs *flag.FlagSet, args []string, argNames string, nargs int, stdout, stderr io.Writer) ([]string, int, bool) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	acceptDays(fs)
	given := countSets(fs)
	pos, err := parseInterspersed(fs, args)
	if repeated := given(); err == nil {
		err = repeated
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil, writeOut(stdout, stderr, fs.Name(), func(w io.Writer) { printUsage(w, fs, argNames) }), false
	}
	if err == nil && nargs >= 0 && len(pos) != nargs {
		err = argCountError(argNames, nargs, pos)
	}
	if err == nil {
		err = checkFileFlags(fs)
	}
	if err == nil {
		err = checkPrefixFlag(fs)
	}
	if err == nil {
		err = checkEtcdGiven(fs)
	}
	if err != nil {
		return nil, usageError(stderr, fs.Name(), err), false
	}
	warnDeprecated(fs, stderr)
	return pos, 0, true
}

// countSets makes every flag of fs count the times it is set, for the
// parse to come, and returns the function that puts the flags back and
// refuses one set twice or more. The flag package keeps the last of a
// repeated flag without a word: a manifest's --policy a.yaml followed by
// a user's --policy b.yaml ran on b.yaml, and nothing said so. A deprecated
// spelling counts as its flag ("--cacert a --etcd-cacert b" is a repeat).
// No flag of the CLI takes a list by repetition: a list is one value,
// comma-separated (--etcd a:2379,b:2379). The hidden, refused flags are
// left alone: their own error names the flag to use instead.
func countSets(fs *flag.FlagSet) func() error {
	type wrapped struct {
		f     *flag.Flag
		inner flag.Value
	}
	var all []wrapped
	shared := map[any]*flagSets{}
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, refusedPrefix) {
			return
		}
		sets := &flagSets{}
		if key := setKey(f.Value); key != nil {
			if s, ok := shared[key]; ok {
				sets = s
			} else {
				shared[key] = sets
			}
		}
		if !strings.HasPrefix(f.Usage, deprecatedPrefix) {
			sets.flag = f.Name
		}
		all = append(all, wrapped{f, f.Value})
		f.Value = &countedValue{Value: f.Value, name: f.Name, sets: sets}
	})
	return func() error {
		var err error
		for _, w := range all {
			c := w.f.Value.(*countedValue)
			w.f.Value = w.inner
			if err == nil && len(c.sets.names) > 1 {
				err = c.sets.repeated()
			}
		}
		return err
	}
}

// setKey returns what identifies the variable behind v, shared by a flag
// and its deprecated spellings (alias), or nil when it cannot be compared.
func setKey(v flag.Value) any {
	if d, ok := v.(*durationValue); ok {
		v = d.inner
	}
	if t := reflect.TypeOf(v); t == nil || !t.Comparable() {
		return nil
	}
	return v
}

// flagSets are the sets of one flag, under its name or a deprecated one.
type flagSets struct {
	flag  string   // its name
	names []string // the names it was set as, in order
}

// repeated is the usage error of a flag set more than once: it names the
// flag, never its values, which may be secrets.
func (s *flagSets) repeated() error {
	name := s.flag
	if name == "" {
		name = s.names[0]
	}
	for _, n := range s.names {
		if n != name {
			as := make([]string, len(s.names))
			for i, n := range s.names {
				as[i] = dashed(n)
			}
			return fmt.Errorf("%s given %d times (as %s); give it once", dashed(name), len(s.names), strings.Join(as, ", "))
		}
	}
	return fmt.Errorf("%s given %d times; give it once (only the last would count)", dashed(name), len(s.names))
}

// dashed spells a flag as the usage does: -f, -o of `portcullis inject`,
// as kubectl spells them; --name for every other.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// countedValue is a flag's value while countSets counts its sets.
type countedValue struct {
	flag.Value
	name string
	sets *flagSets // shared with its deprecated spellings
}

// Set records the set and sets the value.
func (c *countedValue) Set(s string) error {
	c.sets.names = append(c.sets.names, c.name)
	return c.Value.Set(s)
}

// IsBoolFlag says whether the flag is a boolean one, as its value does:
// the flag package asks, to know whether "--json" takes a value.
func (c *countedValue) IsBoolFlag() bool {
	b, ok := c.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func argCountError(argNames string, nargs int, pos []string) error {
	switch {
	case len(pos) > nargs:
		return fmt.Errorf("unexpected argument %q", pos[nargs])
	case argNames != "":
		return fmt.Errorf("missing %s", strings.Fields(argNames)[len(pos)])
	}
	return fmt.Errorf("want %d arguments, got %d", nargs, len(pos))
}

// parseInterspersed parses flags anywhere among the arguments, as in
// "keys rotate ID --overlap 24h", and returns the positional ones. Every
// argument after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError prints err as the one line of a usage error of command name
// and returns exit code 2.
func usageError(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "portcullis %s: %s (see portcullis %s --help)\n", name, flagMessage(err), name)
	return 2
}

// usagef is usageError with a formatted message.
func usagef(stderr io.Writer, name, format string, args ...any) int {
	return usageError(stderr, name, fmt.Errorf(format, args...))
}

var (
	flagInvalid  = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-(\S+): (.*)$`)
	flagUnknown  = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	flagNeedsArg = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
)

// flagMessage rewrites the flag package's errors in the CLI's words.
func flagMessage(err error) string {
	s := err.Error()
	if m := flagInvalid.FindStringSubmatch(s); m != nil {
		why := m[3]
		if why == "parse error" {
			why = "not a number"
		}
		return fmt.Sprintf("--%s %s: %s", m[2], m[1], why)
	}
	if m := flagUnknown.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("unknown flag --%s", m[1])
	}
	if m := flagNeedsArg.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("--%s needs a value", m[1])
	}
	return s
}

// warnDeprecated says, for every deprecated spelling used, which to use.
func warnDeprecated(fs *flag.FlagSet, stderr io.Writer) {
	fs.Visit(func(f *flag.Flag) {
		if instead, ok := strings.CutPrefix(f.Usage, deprecatedPrefix); ok {
			fmt.Fprintf(stderr, "portcullis %s: --%s is deprecated; use %s\n", fs.Name(), f.Name, instead)
		}
	})
}

// printUsage prints the usage of the command fs parses: its line, its
// summary and its flags (not the deprecated spellings).
func printUsage(w io.Writer, fs *flag.FlagSet, argNames string) {
	line := "portcullis " + fs.Name()
	if argNames != "" {
		line += " " + argNames
	}
	fmt.Fprintf(w, "usage: %s [flags]\n", line)
	if s := summaryOf(fs.Name()); s != "" {
		fmt.Fprintf(w, "\n%s\n", s)
	}
	fmt.Fprintln(w, "\nflags:")
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.HasPrefix(f.Usage, deprecatedPrefix) && !strings.HasPrefix(f.Usage, refusedPrefix) {
			printFlag(w, f)
		}
	})
	fmt.Fprintln(w, "  --help\n    \tprint this help")
}

func printFlag(w io.Writer, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	switch _, isDur := f.Value.(*durationValue); {
	case isDur && name == "value":
		name = "duration"
	case name == "string":
		name = "value"
	case name == "int" || name == "uint" || name == "float":
		name = "n"
	}
	if name != "" {
		name = " " + strings.ToUpper(name)
	}
	fmt.Fprintf(w, "  %s%s\n    \t%s", dashed(f.Name), name, strings.ReplaceAll(usage, "\n", "\n    \t"))
	if d := f.DefValue; d != "" && d != "0" && d != "0s" && d != "false" && !strings.Contains(usage, "(default") {
		fmt.Fprintf(w, " (default %s)", d)
	}
	fmt.Fprintln(w)
}

// acceptDays replaces the value of every time.Duration flag of fs with
// one that also accepts days, so that every command's durations take
// "90d", including flags other files register with fs.DurationVar.
func acceptDays(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if g, ok := f.Value.(flag.Getter); ok {
			if _, isDur := g.Get().(time.Duration); isDur {
				if _, done := f.Value.(*durationValue); !done {
					f.Value = &durationValue{inner: f.Value}
				}
			}
		}
	})
}

// durationValue is a duration flag that accepts days: see parseDuration.
type durationValue struct{ inner flag.Value }

func (d *durationValue) String() string {
	if d == nil || d.inner == nil {
		return ""
	}
	return d.inner.String()
}

// Set parses s with parseDuration and stores it in the flag it wraps.
func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 { // no command has a use for one: a --timeout -1s was a deadline already past
		return errNegativeDuration
	}
	return d.inner.Set(v.String())
}

// errNegativeDuration refuses a negative duration, in a flag or argument.
var errNegativeDuration = errors.New("negative; a duration is 0s or more")

// Get returns the duration.
func (d *durationValue) Get() any { return d.inner.(flag.Getter).Get() }

// maxDays bounds the days of a duration: 100 years.
const maxDays = 100 * 365

var daysPrefix = regexp.MustCompile(`^(-?)([0-9]+)d`)

// parseDuration parses a Go duration ("90s", "1h30m") that may start with
// whole days ("90d", "1d12h"). A bare number other than 0 is an error
// naming the fix.
func parseDuration(s string) (time.Duration, error) {
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		return 0, fmt.Errorf("use a unit, e.g. %ss", s)
	}
	var days time.Duration
	neg := false
	if m := daysPrefix.FindStringSubmatch(s); m != nil {
		n, err := strconv.ParseInt(m[2], 10, 32)
		if err != nil || n > maxDays {
			// m[2], not n: past 32 bits n is clamped, and "99999999999d"
			// was called "2147483647 days" (TestParseDuration).
			return 0, fmt.Errorf("%s days is too long: at most %dd", m[2], maxDays)
		}
		days, neg, s = time.Duration(n)*24*time.Hour, m[1] == "-", s[len(m[0]):]
		if s == "" {
			s = "0"
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || (neg && d < 0) {
		return 0, errors.New("want a duration such as 20s, 15m, 24h or 90d")
	}
	if d > 0 && days > math.MaxInt64-d { // the sum wrapped around
		return 0, errors.New("too long: at most 292 years in all")
	}
	if neg {
		return -(days + d), nil
	}
	return days + d, nil
}

// isHostPort reports whether s is host:port as the data plane dials it:
// a host, and a port number of 1-65535. fasthttp's dialer takes no
// service name ("localhost:http"), an empty host resolves to nothing, and
// port 0 or 99999 reaches nothing: each was taken, and the sidecar started
// and answered every admitted request 502.
func isHostPort(s string) bool {
	host, _, _ := net.SplitHostPort(s)
	return host != "" && checkHostPort(s) == nil
}

// reachesOwnListener reports whether a dial of upstream (host:port) ends
// at addr, a listener of the sidecar: the same port, and the same host,
// or a local one (loopback, localhost, 0.0.0.0) where addr listens on it
// or on every address ("", "::", "0.0.0.0"). The upstream is dialled
// over IPv4 (fasthttp.Dial), so localhost is 127.0.0.1 on both sides.
func reachesOwnListener(upstream, addr string) bool {
	uh, up, err := net.SplitHostPort(upstream)
	if err != nil {
		return false
	}
	lh, lp, err := net.SplitHostPort(addr)
	if err != nil || up != lp {
		return false
	}
	if strings.EqualFold(uh, lh) {
		return true
	}
	ip := func(h string) net.IP {
		if strings.EqualFold(h, "localhost") {
			return net.IPv4(127, 0, 0, 1)
		}
		return net.ParseIP(h)
	}
	uip, lip := ip(uh), ip(lh)
	switch {
	case uip == nil:
		return false // a name: not resolved here
	case lip != nil && uip.Equal(lip):
		return true
	case !uip.IsLoopback() && !uip.IsUnspecified():
		return false
	case lh == "" || (lip != nil && lip.IsUnspecified()):
		return true // the listener takes every address
	}
	// 0.0.0.0 dials this host, reaching a listener on 127.0.0.1.
	return uip.IsUnspecified() && lip != nil && lip.IsLoopback()
}

// checkSidecarFlags checks the flags of portcullis sidecar that depend on
// each other.
func checkSidecarFlags(f sidecarFlags) error {
	switch {
	case f.upstream == "":
		return errors.New("--upstream is required; give the service's host:port")
	case !isHostPort(f.upstream):
		// It was found only once the policy was loaded: exit 1 and a JSON
		// log line, "dataplane: upstream ... must be host:port".
		return fmt.Errorf("--upstream %s: want the service's host:port, e.g. 127.0.0.1:3000", f.upstream)
	case reachesOwnListener(f.upstream, f.listen):
		// The sidecar started and forwarded every admitted request back
		// to itself, each pass audited, until the public or tenant cap
		// of the upstream pool answered 503 or 429: 256 records for one
		// request (TestSidecarUpstreamOwnListenerRefused).
		return fmt.Errorf("--upstream %s is this sidecar's own --listen %s: every request would be forwarded back to the sidecar; give the service's host:port", f.upstream, f.listen)
	case reachesOwnListener(f.upstream, f.admin):
		return fmt.Errorf("--upstream %s is this sidecar's own --admin %s: give the service's host:port", f.upstream, f.admin)
	case (f.policyFile == "") == (f.etcd.endpoints == ""):
		return errors.New("give exactly one of --policy FILE or --etcd ENDPOINTS")
	case f.collector != "" && f.tokenFile == "" && f.collectorCert == "":
		// The collector refuses every batch without one: the records
		// would pile up in the spool while the sidecar reported ready.
		return fmt.Errorf("--collector %s needs this sidecar's credential: --collector-token-file FILE, or --collector-cert FILE with --collector-key FILE", redactURL(f.collector))
	}
	if err := f.tls.check(); err != nil {
		return err
	}
	if err := checkSidecarNumbers(f); err != nil {
		return err
	}
	if err := dataplane.CheckOpenFiles(f.maxConns); err != nil {
		return err // before anything starts: the cap would not fit
	}
	if err := checkFlagFiles("policy", f.policyFile, "audit-file", f.auditFile, "collector-token-file", f.tokenFile,
		"collector-cacert", f.collectorCA, "collector-cert", f.collectorCert, "collector-key", f.collectorKey,
		"tls-cert", f.tls.cert, "tls-key", f.tls.key, "client-ca", f.tls.clientCA, "client-crl", f.tls.clientCRL); err != nil {
		return err
	}
	if err := f.etcd.checkFiles(); err != nil {
		return err
	}
	return checkLogLevel(f.logLevel)
}

// checkFlagFiles refuses a file named by a flag (pairs of flag name and
// path) that exists and is not a regular file: a FIFO there froze the
// start for ever in open(2), waiting for a writer, without a word (and a
// sidecar, which catches SIGTERM first, did not stop on it).
func checkFlagFiles(flagPaths ...string) error {
	for i := 0; i+1 < len(flagPaths); i += 2 {
		if p := flagPaths[i+1]; p != "" {
			if err := durable.CheckRegular(p); err != nil {
				return fmt.Errorf("--%s %s: %w", flagPaths[i], p, err)
			}
		}
	}
	return nil
}

// streamFlags are the flags shown as FILE that checkFileFlags leaves
// alone: --out is written and may be /dev/stdout, inject's -f is read as
// a stream (stdin with -, or the pipe of a shell's <(...)).
var streamFlags = map[string]bool{"out": true, "f": true}

// checkFileFlags refuses, for every command, a file flag (one whose usage
// names it FILE: --policy, --public-key, --etcd-cacert, --tls-cert, ...)
// that exists and is not a regular file, as checkFlagFiles does for the
// sidecar's: a FIFO there froze the command for ever in open(2), waiting
// for a writer (the injector, which catches SIGTERM first, did not even
// stop on it), and /dev/zero filled the memory.
func checkFileFlags(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if name, _ := flag.UnquoteUsage(f); err == nil && name == "file" && !streamFlags[f.Name] {
			err = checkFlagFiles(f.Name, f.Value.String())
		}
		if err == nil && pemFlags[f.Name] && f.Value.String() != "" {
			err = checkPEMSize(f.Name, f.Value.String())
		}
	})
	return err
}

// checkPrefixFlag refuses, for every command that has one, an etcd
// --prefix that does not start with "/" or holds white space or quotes,
// as the injector's configuration does: "--prefix portcullis/default"
// (the leading slash forgotten) found nothing there, and keys list,
// members list and their like printed empty tables, exit 0, as if the
// deployment had none.
func checkPrefixFlag(fs *flag.FlagSet) error {
	f := fs.Lookup("prefix")
	if f == nil {
		return nil
	}
	if p := f.Value.String(); !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n\"'") {
		return fmt.Errorf("--prefix %q: want an etcd key prefix that starts with / and holds no spaces or quotes, e.g. %s", p, etcdsync.DefaultPrefix)
	}
	return nil
}

// etcdConnNames are the flags that say how to reach etcd, apart from
// --etcd itself (etcdConnFlags.registerConn).
var etcdConnNames = []string{"prefix", "etcd-cacert", "etcd-cert", "etcd-key", "etcd-user", "etcd-password"}

// checkEtcdGiven refuses a flag of etcdConnNames given to a command whose
// --etcd is empty: the sidecar, the collector and audit verify and query
// use etcd only with --etcd, and took such a flag without a word (a
// collector given its etcd user and CA but no --etcd ran without etcd:
// its heads anchored nowhere there, no lifecycle event stored:
// TestEtcdFlagWithoutEtcdIsAUsageError).
func checkEtcdGiven(fs *flag.FlagSet) error {
	f := fs.Lookup("etcd")
	if f == nil || f.Value.String() != "" {
		return nil
	}
	if e, ok := f.Value.(envEndpoints); ok && e.taken() != "" {
		// evidence pack and review start read $PORTCULLIS_ETCD after
		// the flags (TestPackAndReviewStartReadPortcullisEtcd).
		return nil
	}
	var given string
	fs.Visit(func(f *flag.Flag) {
		if given == "" && slices.Contains(etcdConnNames, f.Name) {
			given = f.Name
		}
	})
	if given != "" {
		return fmt.Errorf("--%s says how to reach etcd, and without --etcd ENDPOINTS this command does not use etcd: give --etcd too, or leave --%s out", given, given)
	}
	return nil
}

// pemFlags are the flags, of every command, that name a PEM file: a
// certificate chain, a key or a CA bundle, at most durable.MaxPEMBytes.
var pemFlags = map[string]bool{
	"tls-cert": true, "tls-key": true, "client-ca": true,
	"collector-cacert": true, "collector-cert": true, "collector-key": true,
	"etcd-cacert": true, "etcd-cert": true, "etcd-key": true,
}

// checkPEMSize refuses a PEM file over durable.MaxPEMBytes, naming the
// flag, the file and the cap, before anything reads it: the readers cap
// it too (durable.ReadPEM), but name the file only.
func checkPEMSize(flagName, path string) error {
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() > durable.MaxPEMBytes {
		return fmt.Errorf("--%s %s: %w: it is %d bytes, over the cap of %s for a PEM file", flagName, path, durable.ErrTooLarge, fi.Size(), durable.FormatCap(durable.MaxPEMBytes))
	}
	return nil
}

// checkSidecarNumbers refuses numbers the sidecar would otherwise replace
// without a word (a cap of 0 became the default) or act on badly (a
// negative drain cuts every in-flight request).
func checkSidecarNumbers(f sidecarFlags) error {
	switch {
	case f.maxConns < 0:
		return fmt.Errorf("--max-conns %d: want 0 (sized to the memory limit) or more", f.maxConns)
	case f.maxPerIP < 1:
		return fmt.Errorf("--max-conns-per-ip %d: want at least 1", f.maxPerIP)
	case f.tokenFails < 1:
		return fmt.Errorf("--token-failures-per-ip %d: want at least 1", f.tokenFails)
	case f.maxUpConns < 1:
		return fmt.Errorf("--upstream-max-conns %d: want at least 1", f.maxUpConns)
	case f.tenantMax < 0 || f.tenantMax > f.maxUpConns:
		return fmt.Errorf("--tenant-max-in-flight %d: want 0 (half of --upstream-max-conns) to --upstream-max-conns (%d)", f.tenantMax, f.maxUpConns)
	case f.drain < 0:
		return fmt.Errorf("--drain %s: want 0s or more", f.drain)
	case f.drainDelay < 0:
		return fmt.Errorf("--drain-delay %s: want 0s or more", f.drainDelay)
	case f.metricsTenants < 0:
		return fmt.Errorf("--metrics-tenants %d: want 0 (none by name) or more", f.metricsTenants)
	}
	return nil
}

// checkLogLevel refuses a --log-level the logger does not know.
func checkLogLevel(level string) error {
	if _, err := zerolog.ParseLevel(level); err != nil || level == "" {
		return fmt.Errorf("--log-level %s: want debug, info, warn or error", level)
	}
	return nil
}

// parseTimeFlag parses a time flag: RFC 3339, or a date (midnight UTC).
func parseTimeFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly, "2006-01-02T15:04"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s %s: want a date (2026-12-01) or an RFC 3339 time (2026-12-01T15:04:05Z)", name, v)
}

// parseRange parses --from and --to (either may be empty: open) and
// refuses a range whose end is not after its start, which would select
// nothing and look like a period without records.
func parseRange(from, to string) (f, t time.Time, err error) {
	if f, err = parseTimeFlag("from", from); err == nil {
		t, err = parseTimeFlag("to", to)
	}
	if err == nil && !f.IsZero() && !t.IsZero() && !t.After(f) {
		err = fmt.Errorf("--to %s is not after --from %s; the range holds no time", to, from)
	}
	return f, t, err
}

func decisionList() string {
	names := make([]string, audit.NumDecisions)
	for i := range names {
		names[i] = audit.Decision(i).String()
	}
	return strings.Join(names, ", ")
}

// checkQueryFlags checks the flags of audit query that name a value from a
// fixed set.
func checkQueryFlags(dir, decision, format string, status int) error {
	switch {
	case dir == "":
		return errors.New("--data is required; name the collector's data directory")
	case status != 0 && (status < 100 || status > 599):
		// It matched no record, and an empty table read as no such request.
		return fmt.Errorf("--status %d: want an HTTP status, 100-599", status)
	case decision != "":
		if _, ok := audit.ParseDecision(decision); !ok {
			return fmt.Errorf("--decision %s: unknown decision; want one of %s", decision, decisionList())
		}
	}
	switch format {
	case collector.OutputTable, collector.OutputJSON, collector.OutputOCSF:
		return nil
	}
	return fmt.Errorf("--format %s: want table, json or ocsf", format)
}
