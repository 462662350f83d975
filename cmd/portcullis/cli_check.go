package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// The checks of flag values that several commands share: files, etcd,
// PEM sizes, log levels, times and query filters.

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

// checkListenAddrs refuses a listen address (pairs of flag name and
// address; "" is none) that no listener takes for its form: no port, or
// a port number outside 0-65535, however many digits (0 is any free
// port; a service name is net.Listen's to judge). It was found only when the server listened,
// exit 1 after JSON log lines (TestListenAddressOutOfRangeIsUsage).
func checkListenAddrs(flagAddrs ...string) error {
	for i := 0; i+1 < len(flagAddrs); i += 2 {
		addr := flagAddrs[i+1]
		if addr == "" {
			continue
		}
		_, port, err := net.SplitHostPort(addr)
		n, perr := strconv.Atoi(port)
		if err == nil && (perr == nil && (n < 0 || n > 65535) || errors.Is(perr, strconv.ErrRange)) {
			// A number past int's range is outside too: it was left to
			// the listen (attack812).
			err = fmt.Errorf("port %s is outside 0-65535", port)
		}
		if err != nil {
			return fmt.Errorf("--%s %s: want host:port, e.g. 127.0.0.1:8080 (%v)", flagAddrs[i], addr, err)
		}
	}
	return nil
}
