package collector

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Filter selects stored records; zero fields match everything.
type Filter struct {
	From     time.Time // inclusive
	To       time.Time // exclusive
	Tenant   string
	Client   string
	Route    string
	Decision string
	Status   int
	Sender   string // "token:<name>" or "cert:<identity>"
}

// Match reports whether r passes the filter. A record's time is its
// sender's claim: one the collector flagged FlagTimeOutsideWindow for a
// time after its receipt (a clock ahead, or a forgery: no late delivery is
// dated after it arrived) is in [From, To) when either its own time or the
// time the collector stored it (Received, when set) is, so that it reaches
// the readers of the period it arrived in (an evidence pack of that
// period) rather than only those of a period yet to come. A record dated
// before its receipt (a spool replayed late) belongs to its own period.
func (f *Filter) Match(r *StoredRecord) bool {
	switch {
	case !f.inPeriod(r.Time) && !(r.datedAhead() && f.inPeriod(r.Received)):
		return false
	case f.Tenant != "" && r.Tenant != f.Tenant:
		return false
	case f.Client != "" && r.Client != f.Client:
		return false
	case f.Route != "" && r.Route != f.Route:
		return false
	case f.Decision != "" && r.Decision != f.Decision:
		return false
	case f.Status != 0 && r.Status != int64(f.Status):
		return false
	case f.Sender != "" && r.Sender != f.Sender:
		return false
	}
	return true
}

// inPeriod reports whether t is in [From, To) (zero bounds are open).
func (f *Filter) inPeriod(t time.Time) bool {
	return (f.From.IsZero() || !t.Before(f.From)) && (f.To.IsZero() || t.Before(f.To))
}

// QueryRecords calls fn for every stored record in dir that f matches, in
// storage order. It does not verify the chain. r is valid only during the
// call: fn copies what it keeps (the records of one entry are decoded into
// the slice of the one before, for a scan of millions of records:
// BenchmarkPack in package evidence).
func QueryRecords(dir string, f Filter, fn func(r *StoredRecord) error) error {
	_, err := scanEntries(dir, isBatch, &bodyBuffers{}, 0, nil, func(e *Entry) error {
		for i := range e.Records {
			e.Records[i].Sender, e.Records[i].Pod, e.Records[i].Received = e.Sender, e.Pod, e.Time
			e.Records[i].SenderBound = e.BoundTenants != ""
			e.Records[i].BoundTenants = e.BoundTenants
			if f.Match(&e.Records[i]) {
				if err := fn(&e.Records[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return err
}

// QueryEvents calls fn for every stored lifecycle event with a time in
// [from, to) (zero bounds are open), in storage order.
func QueryEvents(dir string, from, to time.Time, fn func(ev *Event) error) error {
	_, err := scanEntries(dir, hasEvents, nil, 0, nil, func(e *Entry) error {
		for i := range e.Events {
			t := e.Events[i].Time
			if (!from.IsZero() && t.Before(from)) || (!to.IsZero() && !t.Before(to)) {
				continue
			}
			if err := fn(&e.Events[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// Output formats of WriteRecords.
const (
	OutputTable = "table"
	OutputJSON  = "json"
	OutputOCSF  = "ocsf"
)

// FlagUnverified marks, in the output of WriteVerifiedRecords (audit
// query), a record whose entry was not verified: its hash, its link to
// the entry before or the collector's signature of it failed, or no
// public key was given to check them.
const FlagUnverified = "unverified"

// WriteVerifiedRecords writes the records of dir matching f as
// WriteRecords does, reading the store once and verifying it with pub and
// opts as VerifyWith does; it returns the number written and the report.
// Each record whose own entry did not pass (see Entry.Verified) carries
// FlagUnverified, so a reader tells the records the key vouches for from
// those anyone with write access to the store could have edited or
// appended. With a nil pub nothing is verified, every record carries the
// flag and the report is nil.
func WriteVerifiedRecords(w io.Writer, dir string, f Filter, format string, pub ed25519.PublicKey, opts VerifyOptions) (int, *VerifyReport, error) {
	emit, flush, err := recordWriter(w, format)
	if err != nil {
		return 0, nil, err
	}
	n := 0
	p := Pass{Filter: f, VerifyKey: pub, Verify: opts, MarkVerified: true, Records: func(e *Entry, r *StoredRecord) error {
		n++
		if !e.Verified {
			r.Flags = append(r.Flags[:len(r.Flags):len(r.Flags)], FlagUnverified)
		}
		return emit(r)
	}}
	rep, err := ReadStore(dir, p)
	if ferr := flush(); err == nil {
		err = ferr
	}
	return n, rep, err
}

// WriteRecords writes the records of dir matching f to w in the given
// format: table (aligned columns), json (one StoredRecord per line) or ocsf
// (one OCSF API Activity event per line). It returns the number written.
// It does not verify the chain (WriteVerifiedRecords does).
func WriteRecords(w io.Writer, dir string, f Filter, format string) (int, error) {
	emit, flush, err := recordWriter(w, format)
	if err != nil {
		return 0, err
	}
	n := 0
	err = QueryRecords(dir, f, func(r *StoredRecord) error { n++; return emit(r) })
	if ferr := flush(); err == nil {
		err = ferr
	}
	return n, err
}

// recordWriter returns the functions writing records to w in format.
func recordWriter(w io.Writer, format string) (emit func(r *StoredRecord) error, flush func() error, err error) {
	var buf []byte
	switch format {
	case OutputJSON, OutputOCSF:
		emit = func(r *StoredRecord) error {
			if format == OutputJSON {
				buf = append(r.AppendJSON(buf[:0]), '\n')
			} else {
				buf = append(AppendOCSF(buf[:0], r), '\n')
			}
			_, err := w.Write(buf)
			return err
		}
		flush = func() error { return nil }
	case OutputTable:
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tSENDER\tTENANT\tCLIENT\tAUTH\tMETHOD\tROUTE\tPATH\tSTATUS\tDECISION\tLIMIT\tREQUEST_ID\tFLAGS")
		emit = func(r *StoredRecord) error {
			_, err := fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339Nano),
				Cell(r.Sender), Cell(r.Tenant), Cell(r.Client), Cell(r.AuthMethod), Cell(r.Method), Cell(r.Route), Cell(r.Path),
				r.StatusText(), Cell(r.Decision), Cell(r.Limit), Cell(r.RequestID), Cell(strings.Join(r.Flags, ",")))
			return err
		}
		flush = tw.Flush
	default:
		return nil, nil, fmt.Errorf("collector: unknown output format %q (want table, json or ocsf)", format)
	}
	return emit, flush, nil
}

// Cell makes attacker-controlled text safe for a terminal table (audit
// query, tenants top, events list): "-" when empty, quoted when it holds
// anything but printable, space-free text, so that it never moves the
// cursor or starts a line of its own.
func Cell(s string) string {
	if s == "" {
		return "-"
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c >= 0x80 {
			return strconv.QuoteToASCII(s)
		}
	}
	return strings.Clone(s)
}

// ParseRetention parses a retention period: a Go duration ("720h"), a
// whole number of days ("30d") or days then a duration ("1d12h"), as every
// duration flag of the CLI takes. It is never negative, and a retention
// other than 0 is at least a second (see OpenStore).
func ParseRetention(s string) (time.Duration, error) {
	bad := fmt.Errorf("collector: cannot parse retention %q: want N days (400d), a duration (720h) or both (1d12h)", s)
	var days time.Duration
	if n, rest, ok := strings.Cut(s, "d"); ok {
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 || v > 100*365 || n[0] == '+' || n[0] == '-' {
			return 0, bad
		}
		if days, s = time.Duration(v)*24*time.Hour, rest; s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || days+d < days {
		return 0, bad
	}
	if err := checkRetention(days + d); err != nil {
		return 0, err
	}
	return days + d, nil
}

// ErrShortRetention is returned (wrapped) for a retention under one
// second other than 0.
var ErrShortRetention = errors.New("collector: retention under one second")

// checkRetention refuses a retention under one second other than 0: a
// retention entry records its period in whole seconds, so one of 500ms
// recorded 0, and verify reported every deletion as a bad retention.
func checkRetention(d time.Duration) error {
	if d > 0 && d < time.Second {
		return fmt.Errorf("%w: %v (a retention entry records whole seconds, and verify would report its deletions as bad retention); give 0 (keep all) or at least 1s", ErrShortRetention, d)
	}
	return nil
}
