package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/portcullis/portcullis/audit"
)

func init() {
	register("audit", "audit store tools: keygen, query, verify", runAudit)
}

func runAudit(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: portcullis audit keygen|query|verify [flags]")
		return 2
	}
	switch args[0] {
	case "keygen":
		return auditKeygen(args[1:])
	case "query":
		return auditQuery(args[1:])
	case "verify":
		return auditVerify(args[1:])
	}
	fmt.Fprintf(os.Stderr, "portcullis audit: unknown subcommand %q (want keygen, query or verify)\n", args[0])
	return 2
}

// parseFlags parses args into fs, returning the exit code to use on failure
// (0 for -h, 2 for usage errors) and whether to go on.
func parseFlags(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return 2, false
	}
	return 0, true
}

func auditKeygen(args []string) int {
	fs := flag.NewFlagSet("audit keygen", flag.ContinueOnError)
	out := fs.String("out", "", "private key file to write (public key goes to FILE.pub)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *out == "" {
		fmt.Fprintln(os.Stderr, "audit keygen: --out is required")
		return 2
	}
	if err := audit.GenerateKey(*out); err != nil {
		fmt.Fprintln(os.Stderr, "audit keygen:", err)
		return 1
	}
	fmt.Printf("wrote %s (private, 0600) and %s.pub\n", *out, *out)
	return 0
}

func auditQuery(args []string) int {
	fs := flag.NewFlagSet("audit query", flag.ContinueOnError)
	dir := fs.String("data", "", "collector data directory")
	from := fs.String("from", "", "earliest record time, RFC 3339 (inclusive)")
	to := fs.String("to", "", "latest record time, RFC 3339 (exclusive)")
	var f audit.Filter
	fs.StringVar(&f.Tenant, "tenant", "", "tenant id")
	fs.StringVar(&f.Client, "client", "", "client id")
	fs.StringVar(&f.Route, "route", "", "route template")
	fs.StringVar(&f.Decision, "decision", "", "decision (allowed, rate_limited, ...)")
	fs.IntVar(&f.Status, "status", 0, "HTTP status")
	fs.StringVar(&f.Sender, "sender", "", "sender that stored the batch (token:<name> or cert:<identity>)")
	format := fs.String("format", audit.OutputTable, "output: table, json or ocsf")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var err error
	if f.From, err = parseTimeFlag("from", *from); err == nil {
		f.To, err = parseTimeFlag("to", *to)
	}
	if err != nil || *dir == "" {
		fmt.Fprintln(os.Stderr, "audit query: --data is required;", err)
		return 2
	}
	if _, err := audit.WriteRecords(os.Stdout, *dir, f, *format); err != nil {
		fmt.Fprintln(os.Stderr, "audit query:", err)
		return 1
	}
	return 0
}

func parseTimeFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, fmt.Errorf("cannot parse --%s %q: %w", name, v, err)
	}
	return t, nil
}

func auditVerify(args []string) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	dir := fs.String("data", "", "collector data directory")
	keyFile := fs.String("public-key", "", "Ed25519 public key (PEM) of the collector's signing key")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *dir == "" || *keyFile == "" {
		fmt.Fprintln(os.Stderr, "audit verify: --data and --public-key are required")
		return 2
	}
	pub, err := audit.LoadPublicKey(*keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit verify:", err)
		return 1
	}
	rep, err := audit.Verify(*dir, pub)
	if err != nil {
		fmt.Fprintln(os.Stderr, "audit verify:", err)
		return 1
	}
	printVerifyReport(os.Stdout, rep, *asJSON)
	if !rep.OK() {
		return 1
	}
	return 0
}

func printVerifyReport(w io.Writer, rep *audit.VerifyReport, asJSON bool) {
	if asJSON {
		json.NewEncoder(w).Encode(rep)
		return
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(w, "TAMPERED:", p)
	}
	status := "intact"
	if !rep.OK() {
		status = fmt.Sprintf("%d problems", len(rep.Problems))
	}
	fmt.Fprintf(w, "%s: %d segments (%d expired by retention), %d batches, %d records, %d events, first %s, last %s, %d unsigned entries after the signed head\n",
		status, rep.Segments, rep.Expired, rep.Batches, rep.Records, rep.Events,
		fmtTime(rep.First), fmtTime(rep.Last), rep.Unsigned)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
