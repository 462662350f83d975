package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// clientsCommands are the subcommands of portcullis clients: list the
// policy's clients, suspend and resume them, through etcd.
func clientsCommands() group {
	return group{
		"list":    etcdCommand("clients list", "list the policy's clients with their suspension state", clientsListCmd()),
		"suspend": etcdCommand("clients suspend", "refuse every credential of a client for a while", clientsSuspendCmd()),
		"resume":  etcdCommand("clients resume", "lift a client's suspension before it lapses", clientsResumeCmd()),
	}
}

func clientsListCmd() etcdCmd {
	return etcdCmd{run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
		cs, err := a.ListClients(ctx)
		if err != nil || f.json {
			return errOrJSON(err, out, cs)
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT\tTENANT\tOWNER\tSTATE\tSCOPES")
		for _, c := range cs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Tenant, orDash(c.Owner), clientState(c), orDash(strings.Join(c.Scopes, ",")))
		}
		return tw.Flush()
	}}
}

// clientState is "active", or the suspension: until when, why and by whom.
func clientState(c etcdadmin.ClientInfo) string {
	s := c.Suspension
	if s == nil {
		return "active"
	}
	return fmt.Sprintf("suspended until %s by %s (%s)", s.Until.Format(time.RFC3339), s.Actor, s.Reason)
}

func clientsSuspendCmd() etcdCmd {
	var d time.Duration
	var fset *flag.FlagSet
	return etcdCmd{
		args:   []string{"CLIENT"},
		change: true,
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&d, "for", 0, "how long the suspension lasts (required, more than 0s, e.g. 1h)")
			fset = fs
		},
		check: func(f *etcdFlags) error {
			if d <= 0 {
				if flagGiven(fset, "for") {
					// "--for 0s" was answered "--for is required".
					return fmt.Errorf("--for %s: a suspension of no time suspends nothing; give how long it lasts, more than 0s, e.g. 1h (clients resume ends one)", d)
				}
				return errors.New("--for is required; give how long the suspension lasts, e.g. 1h")
			}
			return needReason(f)
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
			s, err := a.Suspend(ctx, args[0], d, f.meta())
			if err != nil || f.json {
				return errOrJSON(err, out, s)
			}
			_, err = fmt.Fprintf(out, "suspended %s until %s\n", s.Client, s.Until.Format(time.RFC3339))
			return err
		},
	}
}

func clientsResumeCmd() etcdCmd {
	return etcdCmd{args: []string{"CLIENT"}, change: true, run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
		if err := a.Resume(ctx, args[0], f.meta()); err != nil {
			return err
		}
		_, err := fmt.Fprintf(out, "resumed %s\n", args[0])
		return err
	}}
}

// flagGiven reports whether flag name was given on fs's command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
