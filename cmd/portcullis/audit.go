package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
)

// auditCommands are the subcommands of portcullis audit.
func auditCommands() group {
	return group{
		"keygen": {run: auditKeygen, summary: "make the collector's Ed25519 signing key pair (FILE, FILE.pub)"},
		"query":  {run: auditQuery, summary: "print stored records (table, JSON or OCSF API Activity)"},
		"verify": {run: auditVerify, summary: "check the hash chain and signatures of a collector's store"},
	}
}

func auditKeygen(args []string) int {
	fs := flag.NewFlagSet("audit keygen", flag.ContinueOnError)
	out := fs.String("out", "", "private key `file` to write (the public key goes to FILE.pub)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *out == "" {
		return usagef(os.Stderr, fs.Name(), "--out is required; name the private key file")
	}
	if err := keygen(*out); err != nil {
		fmt.Fprintln(os.Stderr, "portcullis audit keygen:", err)
		return 1
	}
	fmt.Printf("wrote %s (private, 0600) and %s.pub\n", *out, *out)
	return 0
}

// keygen writes the key pair to out and out.pub, or neither. It wrote the
// private key, then failed on an out.pub left from before: the private
// key stayed, without its public key, and the next run failed on it
// (TestAuditKeygenLeavesNoHalfPair). A key already there is never
// overwritten: it may be the one the collector signs with.
func keygen(out string) error {
	for _, p := range []string{out, out + ".pub"} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s exists; a key is never overwritten: remove it (and its pair) or give another --out", p)
		}
	}
	err := collector.GenerateKey(out)
	if err != nil && !errors.Is(err, os.ErrExist) { // a file made meanwhile is not this run's
		os.Remove(out) // neither was there: what is there now is this run's, part of a pair at most
		os.Remove(out + ".pub")
	}
	return err
}

func auditQuery(args []string) int {
	fs := flag.NewFlagSet("audit query", flag.ContinueOnError)
	dir := fs.String("data", "", "collector data `directory`")
	from := fs.String("from", "", "earliest record `time` (inclusive): RFC 3339 or a date, 2026-12-01")
	to := fs.String("to", "", "latest record `time` (exclusive): RFC 3339 or a date")
	var f collector.Filter
	fs.StringVar(&f.Tenant, "tenant", "", "tenant id")
	fs.StringVar(&f.Client, "client", "", "client id")
	fs.StringVar(&f.Route, "route", "", "route template")
	fs.StringVar(&f.Decision, "decision", "", "`decision` (allowed, rate_limited, ...)")
	fs.IntVar(&f.Status, "status", 0, "HTTP status")
	fs.StringVar(&f.Sender, "sender", "", "sender that stored the batch (token:<name> or cert:<identity>)")
	format := fs.String("format", collector.OutputTable, "output: table, json or ocsf")
	var k trailKey
	k.register(fs, true)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var err error
	if f.From, f.To, err = parseRange(*from, *to); err == nil {
		err = checkQueryFlags(*dir, f.Decision, *format, f.Status)
	}
	if err != nil {
		return usageError(os.Stderr, fs.Name(), err)
	}
	if empty, err := collector.IsEmpty(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "portcullis audit query:", err)
		return 1
	} else if empty {
		fmt.Fprintf(os.Stderr, "portcullis audit query: the store in %q is empty\n", *dir)
	}
	pub, opts, err := k.options(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "portcullis audit query:", err)
		return 1
	}
	_, rep, err := collector.WriteVerifiedRecords(stdout, *dir, f, *format, pub, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "portcullis audit query:", err)
		return 1
	}
	return verifiedExit(os.Stderr, fs.Name(), "records", rep)
}

func auditVerify(args []string) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	dir := fs.String("data", "", "collector data `directory`")
	keyFile := fs.String("public-key", "", "`file` of the Ed25519 public key (PEM) of the collector's signing key")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var a anchorFlags
	a.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *dir == "" || *keyFile == "" {
		return usagef(os.Stderr, fs.Name(), "--data and --public-key are required; name the collector's data directory and its public key file")
	}
	pub, err := collector.LoadPublicKey(*keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "portcullis audit verify:", err)
		return 1
	}
	opts, err := a.options(*dir, pub)
	if err != nil {
		fmt.Fprintln(os.Stderr, "portcullis audit verify:", err)
		return 1
	}
	rep, err := collector.VerifyWith(*dir, pub, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "portcullis audit verify:", err)
		return 1
	}
	printVerifyReport(stdout, rep, *asJSON)
	if !rep.OK() {
		return 1
	}
	return 0
}

// printVerifyReport prints rep as text, or as JSON with asJSON. A
// problem's detail can hold text from the store (a break entry's reason)
// or from a head published outside it, which whoever edits them writes:
// each line is printed through alert.PlainText, so it cannot move the
// terminal's cursor, hide the lines after it or start a line of its own
// (TestAuditVerifyPrintsForgedEntryTextPlain).
func printVerifyReport(w io.Writer, rep *collector.VerifyReport, asJSON bool) {
	if asJSON {
		json.NewEncoder(w).Encode(rep)
		return
	}
	for _, p := range rep.Problems {
		label := "TAMPERED:"
		if p.What == collector.ProblemUnchecked {
			label = "NOT CHECKED (fails):"
		}
		fmt.Fprintln(w, label, alert.PlainText(p.String()))
	}
	for _, u := range rep.Unchecked {
		fmt.Fprintln(w, "NOT CHECKED:", alert.PlainText(u))
	}
	status := "intact"
	if !rep.OK() {
		status = fmt.Sprintf("%d problems", len(rep.Problems))
	}
	fmt.Fprintf(w, "%s: %d segments (%d expired by retention), %d batches, %d records, %d events, first %s, last %s, %d unsigned entries after the signed head, %d recorded breaks, %d entries unverified (failing their checks, in no count)\n",
		status, rep.Segments, rep.Expired, rep.Batches, rep.Records, rep.Events,
		fmtTime(rep.First), fmtTime(rep.Last), rep.Unsigned, rep.Breaks, rep.Unverified)
	if rep.KeyRotations > 0 {
		fmt.Fprintf(w, "signing key rotated %d time(s) through rotation entries, each signed by the key before it and the key after; every segment checked against the key that signed it\n", rep.KeyRotations)
	}
	if rep.HeadHash != "" {
		fmt.Fprintf(w, "signed head: seq %d, hash %s (keep it; a later audit verify --expect-head %s finds a rollback)\n",
			rep.HeadSeq, rep.HeadHash, rep.HeadHash)
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
