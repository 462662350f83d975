package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// approvalsCommands are the subcommands of portcullis approvals: the
// two-person rule for the routes whose policy says approval: {required:
// true} (issue 20). The logic is etcdadmin's (approvals.go).
func approvalsCommands() group {
	return group{
		"request": etcdCommand("approvals request", "ask for an approval for a client to call a privileged route, or to push a policy document that weakens the two-person controls", approvalsRequestCmd()),
		"grant":   etcdCommand("approvals grant", "grant a pending approval (the approver must not be its requester)", approvalsGrantCmd()),
		"deny":    etcdCommand("approvals deny", "deny a pending approval, or withdraw a grant", approvalsDenyCmd()),
		"list":    etcdCommand("approvals list", "list the approvals in etcd", approvalsListCmd()),
		"show":    etcdCommand("approvals show", "show one approval", approvalsShowCmd()),
	}
}

func approvalsRequestCmd() etcdCmd {
	var req etcdadmin.ApprovalRequest
	var policyFile string
	return etcdCmd{
		change: true,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&req.Client, "client", "", "client `id` that will make the request (required, but with --policy)")
			fs.StringVar(&req.Route, "route", "", "the `route`, \"METHOD template\" as in the policy, e.g. \"POST /v1/exports\", or \"keys create\" (a new key) or \"keys rotate\" (a successor key) (required, but with --policy)")
			fs.StringVar(&policyFile, "policy", "", "ask for the push of this policy `FILE` (- reads stdin) instead (a push that weakens the two-person controls needs one; the grant admits this document only)")
		},
		check: func(f *etcdFlags) error {
			switch {
			case policyFile != "" && (req.Client != "" || req.Route != ""):
				return errors.New("--policy asks for a policy push: give no --client or --route with it")
			case policyFile == "-" && isTerminal(os.Stdin):
				// It would wait for a policy typed in, without a word.
				return errors.New("--policy - reads stdin, which is a terminal; pipe the policy in (kustomize build | portcullis approvals request --policy - ...) or give FILE")
			case policyFile != "":
				return needReason(f)
			case req.Client == "":
				return errors.New("--client is required; name the client that will make the request")
			case req.Route == "":
				return errors.New(`--route is required; give "METHOD template" as in the policy, e.g. --route "POST /v1/exports"`)
			}
			return needReason(f)
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
			if policyFile != "" {
				doc, err := readPolicyArg(policyFile) // "-" was opened as a file: "open -: no such file or directory"
				if err != nil {
					return err
				}
				req.Policy = doc
			}
			ap, err := a.RequestApproval(ctx, req, f.meta())
			if err != nil || f.json {
				return errOrJSON(err, out, ap)
			}
			if policyFile != "" {
				// The commands name the file; stdin's document is FILE to
				// them, the one whose sha256 the route names.
				file := policyFile
				if file == "-" {
					file = "FILE"
				}
				_, err = fmt.Fprintf(out, "approval %s requested by %s for %s (%s; one push within %s of the grant)\nthe approver checks the document (sha256sum %s, portcullis policy diff %s) and runs: portcullis approvals grant %s --policy %s --approver NAME --note TEXT\nthen push it: portcullis policy push %s --approval %s\n",
					ap.ID, ap.Requester, ap.Route, policyName(policyFile), ap.MaxAge, file, file, ap.ID, file, file, ap.ID)
				return err
			}
			_, err = fmt.Fprintf(out, "approval %s requested by %s for client %s on %s (%d use(s) within %s of the grant)\nask a second person to run: portcullis approvals grant %s --approver NAME --note TEXT\n",
				ap.ID, ap.Requester, ap.Client, ap.Route, ap.MaxUses, ap.MaxAge, ap.ID)
			return err
		},
	}
}

func approvalsGrantCmd() etcdCmd {
	var approver, note, policyFile string
	return etcdCmd{
		args:   []string{"ID"},
		change: true,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&approver, "approver", "", "`who` grants it; must not be its requester (default: --actor)")
			fs.StringVar(&note, "note", "", "the approver's `note`, for the record")
			fs.StringVar(&policyFile, "policy", "", "the policy `FILE` an approval of a policy push is for (- reads stdin; required for one): the grant computes again what it weakens")
		},
		check: func(*etcdFlags) error {
			if policyFile == "-" && isTerminal(os.Stdin) {
				return errors.New("--policy - reads stdin, which is a terminal; pipe the policy in or give FILE")
			}
			return nil
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
			if approver == "" {
				approver = f.actor
			}
			// Written to etcd and the trail as the meta's texts are.
			approver, note = collector.RedactText(approver), collector.RedactText(note)
			ap, err := grantApproval(ctx, a, args[0], policyFile, approver, note, f.meta())
			if errors.Is(err, etcdadmin.ErrSelfApproval) {
				return fmt.Errorf("%w (two-person rule)", err)
			}
			if err != nil || f.json {
				return errOrJSON(err, out, ap)
			}
			if etcdadmin.IsPolicyPushRoute(ap.Route) {
				_, err = fmt.Fprintf(out, "approval %s granted by %s for %s until %s (%d push)\nthe requester runs: portcullis policy push FILE --approval %s\n",
					ap.ID, ap.Approver, ap.Route, ap.Expires.Format(time.RFC3339), ap.MaxUses, ap.ID)
				return err
			}
			_, err = fmt.Fprintf(out, "approval %s granted by %s for client %s on %s until %s (%d use(s))\n%s\n",
				ap.ID, ap.Approver, ap.Client, ap.Route, ap.Expires.Format(time.RFC3339), ap.MaxUses, grantedUse(ap))
			return err
		},
	}
}

// grantApproval grants approval id, with the policy document of
// policyFile when one is given (an approval of a policy push).
func grantApproval(ctx context.Context, a *etcdadmin.Admin, id, policyFile, approver, note string, meta etcdadmin.Meta) (etcdsync.Approval, error) {
	if policyFile == "" {
		return a.GrantApproval(ctx, id, approver, note, meta)
	}
	doc, err := readPolicyArg(policyFile)
	if err != nil {
		return etcdsync.Approval{}, err
	}
	return a.GrantPolicyApproval(ctx, id, doc, approver, note, meta)
}

func approvalsDenyCmd() etcdCmd {
	var approver, note string
	return etcdCmd{
		args:   []string{"ID"},
		change: true,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&approver, "approver", "", "`who` denies it (default: --actor), as grant's --approver")
			fs.StringVar(&note, "note", "", "why, for the record (default: --reason)")
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
			ap, err := a.DenyApproval(ctx, args[0], collector.RedactText(approver), collector.RedactText(note), f.meta())
			if err != nil || f.json {
				return errOrJSON(err, out, ap)
			}
			_, err = fmt.Fprintf(out, "approval %s denied by %s\n", ap.ID, ap.Approver)
			return err
		},
	}
}

func approvalsListCmd() etcdCmd {
	return etcdCmd{run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
		aps, bad, err := a.ApprovalRecords(ctx)
		if err != nil || f.json {
			return errors.Join(errOrJSON(err, out, aps), invalidRecords(bad))
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tCLIENT\tROUTE\tUSES\tREQUESTER\tAPPROVER\tEXPIRES\tTICKET")
		for _, ap := range aps {
			// The requester's and approver's texts stay on their line, in
			// their column: the second person reads them before granting.
			t := alert.PlainText
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", t(ap.ID), t(approvalState(ap, time.Now())), t(orDash(ap.Client)), t(ap.Route),
				ap.Uses, ap.MaxUses, t(ap.Requester), t(orDash(ap.Approver)), orDash(timeOrEmpty(ap.Expires)), t(orDash(ap.Ticket)))
		}
		return errors.Join(tw.Flush(), invalidRecords(bad))
	}}
}

func approvalsShowCmd() etcdCmd {
	return etcdCmd{args: []string{"ID"}, run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
		ap, err := a.ShowApproval(ctx, args[0])
		if err != nil || f.json {
			return errOrJSON(err, out, ap)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		rows := [][2]string{
			{"id", ap.ID}, {"state", approvalState(ap, time.Now())}, {"client", orDash(ap.Client)}, {"route", ap.Route},
			{"requester", ap.Requester}, {"reason", ap.Reason}, {"ticket", orDash(ap.Ticket)},
			{"requested", ap.Requested.Format(time.RFC3339)}, {"approver", orDash(ap.Approver)}, {"note", orDash(ap.Note)},
			{"decided", orDash(timeOrEmpty(ap.Decided))}, {"expires", orDash(timeOrEmpty(ap.Expires))},
			{"uses", strconv.Itoa(ap.Uses) + " of " + strconv.Itoa(ap.MaxUses)}, {"last use", orDash(timeOrEmpty(ap.LastUse))},
		}
		if etcdadmin.IsPolicyPushRoute(ap.Route) {
			// What policy diff FILE prints beside the list the approver reads.
			rows = append(rows, [2]string{"policy revision", strconv.FormatInt(ap.PolicyRevision, 10)}, [2]string{"weakenings sha256", orDash(ap.WeakeningsDigest)})
		}
		for _, row := range rows {
			fmt.Fprintf(tw, "%s:\t%s\n", row[0], alert.PlainText(row[1])) // one line of text each
		}
		return tw.Flush()
	}}
}

// grantedUse says how the granted approval ap is spent: by the command
// of its kind for a key operation, else by the client's header.
func grantedUse(ap etcdsync.Approval) string {
	switch ap.Route {
	case etcdadmin.KeysCreateRoute:
		return "the requester runs: portcullis keys create --client " + ap.Client + " --approval " + ap.ID
	case etcdadmin.KeysRotateRoute:
		return "the requester runs: portcullis keys rotate KEY --approval " + ap.ID + " (KEY: a key of client " + ap.Client + ")"
	}
	return "the client sends: X-Portcullis-Approval: " + ap.ID
}

// approvalState is ap's state at now, "expired" or "used up" for a grant
// that admits nothing more.
func approvalState(ap etcdsync.Approval, now time.Time) string {
	switch {
	case ap.State != etcdsync.ApprovalGranted:
		return ap.State
	case !now.Before(ap.Expires):
		return "expired"
	case ap.Uses >= ap.MaxUses:
		return "used up"
	}
	return ap.State
}

func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
