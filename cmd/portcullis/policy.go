package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// policyCommands are the subcommands of portcullis policy: validate checks
// a file, the others push and read the policy in etcd.
func policyCommands() group {
	return group{
		"validate": {
			run:     func(args []string) int { return policyValidate(args, stdout, os.Stderr) },
			summary: "check a policy file (- reads stdin): every problem as FILE:LINE: message",
		},
		"push":    etcdCommand("policy push", "validate a policy file (- reads stdin) and make it the policy in etcd", policyPushCmd()),
		"get":     etcdCommand("policy get", "print the policy document in etcd", policyGetCmd()),
		"diff":    etcdCommand("policy diff", "show how a policy file (- reads stdin) differs from the policy in etcd (exit 1 when they differ)", policyDiffCmd()),
		"history": etcdCommand("policy history", "list the pushed policies with who, when and why", policyHistoryCmd()),
	}
}

// policyValidate loads and compiles the policy file named in args. It exits
// 0 when valid, 1 with every problem on stderr, 2 on a usage error.
func policyValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("policy validate", flag.ContinueOnError)
	pos, code, ok := parseArgs(fs, args, "FILE", 1, stdout, stderr)
	if !ok {
		return code
	}
	if code, ok := checkStdinArg(fs.Name(), []string{"FILE"}, pos, stderr); !ok {
		return code
	}
	path := policyName(pos[0])
	data, err := readPolicyArg(pos[0])
	if err != nil {
		// A file it cannot read has no line to name: the error names the
		// command, as every other command's does.
		return exitOf(err, stderr, fs.Name())
	}
	snap, err := compilePolicy(path, data)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return writeOut(stdout, stderr, fs.Name(), func(w io.Writer) {
		fmt.Fprintf(w, "%s: ok (%d routes, %d clients, %d keys)\n", path, len(snap.Routes), len(snap.Clients), snap.KeyCount())
		for _, n := range detectionNotes(snap.Doc) {
			fmt.Fprintf(w, "%s: note: %s\n", path, n)
		}
		for _, p := range pushProblems(path, data, snap.Doc) {
			fmt.Fprintf(w, "%s:%d: note: policy push refuses this: %s\n", path, p.Line, p.Message)
		}
	})
}

// pushProblems are the problems policy.CheckPush finds in doc, loaded
// from data: what a push refuses of a document a sidecar still loads.
func pushProblems(name string, data []byte, doc *policy.Document) []policy.Problem {
	var perr *policy.Error
	if errors.As(policy.CheckPush(name, data, doc), &perr) {
		return perr.Problems
	}
	return nil
}

// compilePolicy loads the policy document data read from path and
// compiles it with no live state, as file mode does. Its errors are
// problems written FILE:LINE: message; compile errors are given the file
// name too.
func compilePolicy(path string, data []byte) (*policy.Snapshot, error) {
	doc, err := policy.Load(path, data)
	if err != nil {
		return nil, err
	}
	snap, err := policy.Compile(doc, policy.Live{})
	if err != nil && !errors.Is(err, policy.ErrInvalid) {
		err = fmt.Errorf("%s:0: %w", path, err)
	}
	return snap, err
}

// readPolicyFile reads the policy file a command names as its argument.
// A FIFO or device there is refused, not read: policy validate, push and
// diff froze for ever in open(2) on a FIFO without a writer, and read
// /dev/zero until the memory ran out. So is a file over
// policy.MaxDocumentBytes, which was read whole whatever its size.
func readPolicyFile(path string) ([]byte, error) {
	data, err := durable.ReadRegularMax(path, policy.MaxDocumentBytes)
	if err != nil {
		return nil, fmt.Errorf("cannot read policy %q: %w", path, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		// As stdin's: an empty file was "FILE:1: version must be 1, got 0".
		return nil, fmt.Errorf("cannot read policy %q: the file is empty; write a policy document in it (examples/policy.yaml is one)", path)
	}
	if err := policyEncoding(data); err != nil {
		return nil, fmt.Errorf("cannot read policy %q: the file %w", path, err)
	}
	return data, nil
}

// loadPolicyFile reads (readPolicyFile) and parses the policy at path,
// for the commands that read one only to know its routes, clients and
// rules (the collector's --policy, incident's): policy.LoadFile read a
// FIFO or a UTF-16 file without a byte order mark as the others did.
func loadPolicyFile(path string) (*policy.Document, error) {
	data, err := readPolicyFile(path)
	if err != nil {
		return nil, err
	}
	return policy.Load(path, data)
}

// policyEncoding refuses a policy in UTF-16 or UTF-32 without a byte
// order mark, which the YAML reader took for UTF-8 with control
// characters in it ("FILE:1: control characters are not allowed"): the
// error names the encoding and how to convert it. YAML reads UTF-8, and
// UTF-16 after its byte order mark (FF FE or FE FF); a UTF-8 byte order
// mark is skipped (TestPolicyFileEncodingNamed).
func policyEncoding(data []byte) error {
	if len(data) < 2 || bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff}) {
		return nil // too short to tell, or UTF-16 YAML reads
	}
	var enc string
	switch {
	case len(data) >= 4 && data[0] != 0 && data[1] == 0 && data[2] == 0 && data[3] == 0:
		enc = "UTF-32LE"
	case len(data) >= 4 && data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] != 0:
		enc = "UTF-32BE"
	case data[0] != 0 && data[1] == 0:
		enc = "UTF-16LE"
	case data[0] == 0 && data[1] != 0:
		enc = "UTF-16BE"
	default:
		return nil
	}
	return fmt.Errorf("is %s without a byte order mark (NUL bytes between its characters): a policy is UTF-8; convert it, e.g. iconv -f %s -t UTF-8", enc, enc)
}

// readPolicyArg is readPolicyFile for the FILE argument of policy
// validate, push and diff, where "-" reads stdin, to the same cap. The
// sidecar's and dev's --policy, read again on a reload, name a file only.
func readPolicyArg(arg string) ([]byte, error) {
	if arg == "-" {
		return readPolicyStdin(os.Stdin)
	}
	return readPolicyFile(arg)
}

// readPolicyStdin reads the policy piped in (kustomize build | portcullis
// policy validate -), at most policy.MaxDocumentBytes of it. "-" was
// opened as a file: "open -: no such file or directory".
func readPolicyStdin(in io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(in, policy.MaxDocumentBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("cannot read policy from stdin: %w", err)
	case len(data) > policy.MaxDocumentBytes:
		return nil, fmt.Errorf("cannot read policy from stdin: %w: over the cap of %s", durable.ErrTooLarge, durable.FormatCap(policy.MaxDocumentBytes))
	case len(bytes.TrimSpace(data)) == 0:
		return nil, errors.New("the policy on stdin is empty: pipe a policy document in, or give FILE")
	}
	if err := policyEncoding(data); err != nil {
		return nil, fmt.Errorf("cannot read policy from stdin: it %w", err)
	}
	return data, nil
}

// policyName is how messages name the policy of FILE: "stdin" for "-".
func policyName(arg string) string {
	if arg == "-" {
		return "stdin"
	}
	return arg
}

// checkStdinArg refuses, as a usage error, a FILE argument "-" when stdin
// is a terminal: the command would wait for a policy typed in, without a
// word (as inject -f - did). argNames names the positional arguments.
func checkStdinArg(name string, argNames, pos []string, stderr io.Writer) (int, bool) {
	for i, a := range pos {
		if i < len(argNames) && argNames[i] == "FILE" && a == "-" && isTerminal(os.Stdin) {
			return usagef(stderr, name, "FILE - reads stdin, which is a terminal; pipe the policy in (kustomize build | portcullis %s -) or give FILE", name), false
		}
	}
	return 0, true
}

func policyPushCmd() etcdCmd {
	var expect int64
	var approval string
	return etcdCmd{
		args:   []string{"FILE"},
		change: true,
		flags: func(fs *flag.FlagSet) {
			fs.Int64Var(&expect, "expect-revision", 0, "refuse the push unless the policy in etcd is at this `revision`")
			fs.StringVar(&approval, "approval", "", "granted approval `id` for this document (approvals request --policy FILE), needed when the push weakens the two-person controls")
		},
		check: func(*etcdFlags) error {
			if expect < 0 { // it pushed without the check it asked for
				return fmt.Errorf("--expect-revision %d: want the revision the policy in etcd is at (policy history), 1 or more", expect)
			}
			return nil
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
			doc, err := readPolicyArg(args[0])
			if err != nil {
				return err
			}
			name := policyName(args[0])
			meta := f.meta()
			meta.Approval = approval
			rev, err := a.PushPolicy(ctx, doc, expect, meta)
			if approval != "" && errors.Is(err, rpctypes.ErrPermissionDenied) {
				return approvalUseDenied(err, f, a, approval)
			}
			if perr := (*policy.Error)(nil); errors.As(err, &perr) {
				perr.File = name
				return fmt.Errorf("policy refused:\n%w", perr)
			}
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(out, map[string]any{"file": name, "revision": rev})
			}
			_, err = fmt.Fprintf(out, "pushed %s to %s/policy: revision %d\n", name, a.Prefix(), rev)
			return err
		},
	}
}

// approvalUseDenied explains err, etcd refusing a push that spends
// approval: the push puts a use of it under approval-uses/, which the
// roles Job grants people's roles but not the policy push Job's user
// (portcullis-policy-push, whose Job never passes --approval) nor the
// collector's. The generic hint (etcdHint) named the whole prefix
// (TestEtcdRolesPolicyPushApprovalNamesTheMissingGrant).
func approvalUseDenied(err error, f *etcdFlags, a *etcdadmin.Admin, approval string) error {
	return &fixedErr{err: err, fix: fmt.Sprintf("policy push --approval %s spends a use of the approval, a write under %s, which etcd user %q's role may not make (the roles Job grants it to each person's role, not to portcullis-policy-push, whose Job never spends an approval): push a document that needs an approval as a person's etcd user",
		approval, etcdsync.NewLayout(a.Prefix()).ApprovalUsesDir(), f.etcd.conn.User())}
}

// refusedErr is a policy refused at start, its text cut as
// etcdsync.RefusalText cuts a refused reload's: the error that stops a
// start is logged whole, and a document with a problem on every line made
// a log line of megabytes (TestFirstPolicyLoadRefusalBounded).
type refusedErr struct {
	err    error
	lister string // the command that lists every problem
}

func (e *refusedErr) Error() string { return etcdsync.RefusalText(e.err.Error(), e.lister) }
func (e *refusedErr) Unwrap() error { return e.err }

// boundRefusal returns err, a policy load's at start, with its text cut
// (refusedErr) naming lister for the rest; nil for nil.
func boundRefusal(err error, lister string) error {
	if err == nil {
		return nil
	}
	return &refusedErr{err: err, lister: lister}
}

func policyGetCmd() etcdCmd {
	return etcdCmd{run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
		doc, rev, err := a.GetPolicy(ctx)
		if err != nil {
			return err
		}
		if f.json {
			return printJSON(out, map[string]any{"revision": rev, "document": string(doc)})
		}
		_, err = fmt.Fprintf(out, "# %s/policy at revision %d\n%s", a.Prefix(), rev, doc)
		return err
	}}
}

func policyDiffCmd() etcdCmd {
	return etcdCmd{args: []string{"FILE"}, run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
		doc, err := readPolicyArg(args[0])
		if err != nil {
			return err
		}
		// A file push would refuse is no change ready to push: its
		// difference, exit 1 as for any change, read as one
		// (TestPolicyDiffSaysTheFileIsInvalid).
		if _, err := compilePolicy(policyName(args[0]), doc); err != nil {
			return fmt.Errorf("%s is not a valid policy; policy push would refuse it:\n%w", policyName(args[0]), err)
		}
		d, err := a.DiffPolicy(ctx, policyName(args[0]), doc)
		if err != nil {
			return err
		}
		if d == "" {
			_, err = fmt.Fprintf(out, "%s is the policy in etcd; no differences\n", policyName(args[0]))
			return err
		}
		if _, err := io.WriteString(out, d); err != nil {
			return err
		}
		if err := printWeakenings(ctx, a, doc, out); err != nil {
			return err
		}
		return errExit1 // as diff(1): the documents differ
	}}
}

// printWeakenings lists after a diff every way a push of doc would
// weaken the two-person controls of the policy in etcd, uncut: the push's
// refusal and the approval.request event list the first 20, and the
// approver, who grants the whole document, reads the rest here
// (TestPolicyDiffListsEveryWeakeningThePushCuts). Nothing when its push
// needs no approval.
func printWeakenings(ctx context.Context, a *etcdadmin.Admin, doc []byte, out io.Writer) error {
	weak, rev, err := a.PushWeakenings(ctx, doc)
	if err != nil || len(weak) == 0 {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# this document weakens the two-person controls of the policy in etcd in %d ways (revision %d); its push needs a second person's approval of it:\n", len(weak), rev)
	for _, w := range weak {
		fmt.Fprintf(&b, "#   %s\n", alert.PlainText(w))
	}
	// An approval binds this list (approvals show ID: weakenings sha256),
	// and the push refuses one asked for another.
	fmt.Fprintf(&b, "# weakenings sha256 %s (approvals show ID names the list an approval binds)\n", etcdadmin.WeakeningsDigest(weak))
	_, err = io.WriteString(out, b.String())
	return err
}

func policyHistoryCmd() etcdCmd {
	var limit int
	return etcdCmd{
		flags: func(fs *flag.FlagSet) { fs.IntVar(&limit, "limit", 20, "show the newest `n` pushes (0: all)") },
		check: func(*etcdFlags) error {
			if limit < 0 {
				return fmt.Errorf("--limit %d: want 0 (all) or more", limit)
			}
			return nil
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
			hist, err := a.PolicyHistory(ctx, limit)
			// Newest first, as the docs say and a user reads it: the push
			// just made is the first line (TestPolicyHistoryNewestFirst).
			slices.Reverse(hist)
			if err != nil || f.json {
				return errOrJSON(err, out, hist)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tTIME\tACTOR\tTICKET\tDIGEST\tREASON")
			for _, h := range hist {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.12s\t%s\n", h.Revision, h.Time.Format(time.RFC3339), h.Actor, h.Ticket, h.Digest, h.Reason)
			}
			return tw.Flush()
		},
	}
}
