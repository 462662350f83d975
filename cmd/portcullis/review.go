package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/portcullis/portcullis/evidence"
	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// reviewCommands are the subcommands of portcullis review (issue 15): the
// worksheets of the periodic reviews and their sign-offs.
func reviewCommands() group {
	return group{
		"start": {run: func(args []string) int { return reviewStart(args, stdout, os.Stderr) }, summary: "write the worksheet of an access, logs or tabletop review of a period"},
		"sign":  etcdCommand("review sign", "record a review's sign-off as a lifecycle event, with its worksheet's digest", reviewSignCmd()),
	}
}

func reviewStart(args []string, stdout, stderr io.Writer) int {
	var f packFlags
	fs := flag.NewFlagSet("review start", flag.ContinueOnError)
	f.registerShared(fs) // not --owner-map: a worksheet has no manifest, and it was taken and ignored
	for name, usage := range map[string]string{
		"out":         "worksheet `file` to write (default: stdout)",
		"policy":      "policy `file` in force, when the worksheet is made without --etcd",
		"signing-key": "Ed25519 private key `file` (the collector's) that verifies the store, as --public-key does",
		"retention":   "the collector's --retention `setting` as you know it; the logs worksheet reports the one the store recorded and warns when they differ",
	} {
		fs.Lookup(name).Usage = usage
	}
	pos, code, ok := parseArgs(fs, args, "KIND", 1, stdout, stderr)
	if !ok {
		return code
	}
	p, err := f.periodOf()
	if err == nil {
		err = checkReviewKind(pos[0])
	}
	if err == nil {
		out := f.out
		f.out = "-" // packFlags.check wants one; review start writes a file, not a folder
		err = f.check()
		f.out = out
	}
	if err != nil {
		return usageError(stderr, fs.Name(), err)
	}
	cfg, err := f.config(p)
	if err != nil {
		return exitOf(err, stderr, fs.Name())
	}
	ws, warnings, err := evidence.Worksheet(cfg, pos[0])
	if err != nil {
		return exitOf(err, stderr, fs.Name())
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if f.out == "" {
		_, err = stdout.Write(ws)
		return exitOf(err, stderr, fs.Name())
	}
	if err := evidence.WriteFile(f.out, ws); err != nil {
		return exitOf(fmt.Errorf("cannot write worksheet: %w", err), stderr, fs.Name())
	}
	sum := sha256.Sum256(ws)
	fmt.Fprintf(stdout, "wrote %s (SHA-256 %s)\n", f.out, hex.EncodeToString(sum[:]))
	span := []string{"--period", f.period}
	if f.period == "" {
		span = []string{"--from", f.from, "--to", f.to}
	}
	sign := append(append([]string{"portcullis", "review", "sign", "--kind", pos[0]}, span...),
		"--worksheet", f.out, "--reviewer", "WHO", "--decision", "approved|changes-required", "--note", "TEXT")
	fmt.Fprintf(stdout, "sign it with: %s\n", shellLine(sign))
	return 0
}

// shellLine joins words into a POSIX shell command line that, pasted,
// passes each word as it is: a worksheet path with a space or a $ printed
// bare was split, or expanded, by the shell.
func shellLine(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = shellWord(w)
	}
	return strings.Join(quoted, " ")
}

// shellWord returns w bare when it holds only characters no POSIX shell
// treats specially, else in single quotes, each ' inside written as a
// closing quote, a backslash-escaped quote and an opening quote (POSIX
// XCU 2.2.2: nothing inside single quotes is special, not even \).
func shellWord(w string) string {
	plain := w != "" && strings.IndexFunc(w, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:,+=@%", c))
	}) < 0
	if plain {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

func checkReviewKind(kind string) error {
	switch kind {
	case evidence.ReviewAccess, evidence.ReviewLogs, evidence.ReviewTabletop:
		return nil
	}
	return fmt.Errorf("review kind %q: want access, logs or tabletop", kind)
}

// reviewSignCmd is review sign: a review.sign lifecycle event about
// "<kind>-<period>" with the decision and the worksheet's SHA-256, once
// the worksheet is found to be the one of that kind and period.
func reviewSignCmd() etcdCmd {
	var kind, period, from, to, reviewer, decision, note, ticket, worksheet, sum string
	var p evidence.Period
	return etcdCmd{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&kind, "kind", "", "review `kind`: access, logs or tabletop")
			fs.StringVar(&period, "period", "", "`period` reviewed (2026-Q2, 2026-05, 2026)")
			fs.StringVar(&from, "from", "", "start `date` of the range reviewed (2026-04-01), instead of --period")
			fs.StringVar(&to, "to", "", "last `date` of the range reviewed (2026-06-30), with --from")
			fs.StringVar(&reviewer, "reviewer", "", "`who` signs the review")
			fs.StringVar(&decision, "decision", "", "`decision`: approved or changes-required")
			fs.StringVar(&note, "note", "", "the reviewer's `note`")
			fs.StringVar(&ticket, "ticket", "", "review `ticket`, if any")
			fs.StringVar(&worksheet, "worksheet", "", "the worksheet `file` reviewed; its SHA-256 is recorded")
		},
		check: func(*etcdFlags) error {
			var err error
			if p, err = (&packFlags{period: period, from: from, to: to}).periodOf(); err != nil {
				return err
			}
			switch {
			case reviewer == "" || note == "":
				return errors.New("--reviewer and --note are required")
			case decision != "approved" && decision != "changes-required":
				return fmt.Errorf("--decision %q: want approved or changes-required", decision)
			}
			if err := checkReviewKind(kind); err != nil || worksheet == "" {
				return err
			}
			span := "--period " + period
			if period == "" {
				span = "--from " + from + " --to " + to
			}
			sum, err = checkWorksheet(worksheet, kind, p, span)
			return err
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
			details := map[string]string{"kind": kind, "period": p.Name, "decision": decision}
			if period == "" { // a range: its name alone does not say its times
				details["from"], details["to"] = p.From.Format(time.RFC3339), p.To.Format(time.RFC3339)
			}
			if worksheet != "" {
				details["worksheet_sha256"] = sum
			}
			meta := redactMeta(etcdadmin.Meta{Actor: reviewer, Reason: note, Ticket: ticket, EtcdUser: f.etcd.conn.User()})
			target := kind + "-" + p.Name
			rev, err := a.RecordEvidenceEvent(ctx, evidence.ActionReviewSign, target, meta, details)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s review of %s signed %s by %s (etcd revision %d)\n", kind, p.Name, strings.ToUpper(decision[:1])+decision[1:], reviewer, rev)
			return nil
		},
	}
}

// maxWorksheetBytes caps a worksheet review sign reads: one row per key
// or event of the period, a quarter of 100,000 keys is some 20 MB.
const maxWorksheetBytes = 64 << 20

// checkWorksheet reads the worksheet at path and returns its SHA-256,
// refusing one whose first line (evidence.WorksheetMark) names another
// kind or period than the review of kind over p being signed, or none:
// before, any file's digest was recorded under the kind and period given,
// and last year's logs worksheet signed as this quarter's access review.
// span is the --period or --from/--to flags that name p.
func checkWorksheet(path, kind string, p evidence.Period, span string) (string, error) {
	b, err := durable.ReadRegularMax(path, maxWorksheetBytes)
	if err != nil {
		return "", fmt.Errorf("cannot read worksheet %q: %w", path, err)
	}
	wsKind, wsp, err := evidence.WorksheetReview(b)
	if err != nil {
		return "", fmt.Errorf("--worksheet %q does not say which review it is for (%w): make it with portcullis review start %s %s --data DIR --out FILE",
			path, err, kind, span)
	}
	if wsKind != kind || wsp.Name != p.Name || !wsp.From.Equal(p.From) || !wsp.To.Equal(p.To) {
		return "", fmt.Errorf("--worksheet %q is the %s, not the %s signed here", path, reviewOf(wsKind, wsp), reviewOf(kind, p))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// reviewOf names the review of kind over p with its bounds (to exclusive).
func reviewOf(kind string, p evidence.Period) string {
	return fmt.Sprintf("%s review of %s (%s to %s)", kind, p.Name, p.From.Format(time.RFC3339), p.To.Format(time.RFC3339))
}
