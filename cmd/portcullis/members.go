package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// membersCommands are the subcommands of portcullis members: the live
// sidecars against the pushed policy.
func membersCommands() group {
	return group{
		"list": etcdCommand("members list", "list every live sidecar: applied revision, policy digest, whether it is the pushed policy", membersListCmd()),
	}
}

func membersListCmd() etcdCmd {
	return etcdCmd{run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
		fl, err := a.ListMembers(ctx)
		if err != nil || f.json {
			return errors.Join(errOrJSON(err, out, fl), invalidRecords(fl.Invalid))
		}
		fmt.Fprintf(out, "pushed policy: revision %d, digest %s\n", fl.PolicyRevision, orDash(fl.PolicyDigest))
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "POD\tAPPLIED REVISION\tPOLICY DIGEST\tPUSHED POLICY\tSTARTED\tUPDATED")
		for _, m := range fl.Members {
			// The record is any sidecar credential's to write (every
			// sidecar writes members/ as one etcd user): its texts are
			// cells, never escapes to the terminal
			// (TestMembersListPrintsPodNamesPlain).
			fmt.Fprintf(tw, "%s\t%d\t%.12s\t%s\t%s\t%s\n", collector.Cell(m.Pod), m.Revision, collector.Cell(m.PolicyDigest), yesNo(m.Current),
				m.Started.Format(time.RFC3339), m.Updated.Format(time.RFC3339))
		}
		return errors.Join(tw.Flush(), invalidRecords(fl.Invalid))
	}}
}

// invalidRecords is the failure of a list that left out the records bad
// names, one line: the list printed, they were hidden without a word
// (member records) or shown as empty rows (approvals holding null).
func invalidRecords(bad []string) error {
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%d invalid records left out of the list: %s", len(bad), strings.Join(bad, "; "))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}
