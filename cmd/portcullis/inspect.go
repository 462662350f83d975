package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Read-only views of a deployment: clients with their suspensions, the
// live sidecars against the pushed policy, and the lifecycle events.

var (
	membersCmds = group{}
	eventsCmds  = group{}
)

func init() {
	registerGroup("members", "list the live sidecars and the policy each enforces", membersCmds)
	registerGroup("events", "list lifecycle events (policy pushes, key and client changes)", eventsCmds)
	addEtcdCmd(clientsCmds, "clients list", "list the policy's clients with their suspension state", clientsListCmd())
	addEtcdCmd(membersCmds, "members list", "list every live sidecar: applied revision, policy digest, whether it is the pushed policy", membersListCmd())
	eventsCmds["list"] = command{
		run:     func(args []string) int { return eventsList(args, os.Stdout, os.Stderr, time.Now()) },
		summary: "list lifecycle events from the collector's trail (--data) or from etcd",
	}
}

func clientsListCmd() etcdCmd {
	return etcdCmd{run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
		cs, err := a.ListClients(ctx)
		if err != nil || f.json {
			return errors.Join(err, printJSONUnless(err, out, cs))
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

func membersListCmd() etcdCmd {
	return etcdCmd{run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
		fl, err := a.ListMembers(ctx)
		if err != nil || f.json {
			return errors.Join(err, printJSONUnless(err, out, fl))
		}
		fmt.Fprintf(out, "pushed policy: revision %d, digest %s\n", fl.PolicyRevision, orDash(fl.PolicyDigest))
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "POD\tAPPLIED REVISION\tPOLICY DIGEST\tPUSHED POLICY\tSTARTED\tUPDATED")
		for _, m := range fl.Members {
			fmt.Fprintf(tw, "%s\t%d\t%.12s\t%s\t%s\t%s\n", m.Pod, m.Revision, orDash(m.PolicyDigest), yesNo(m.Current),
				m.Started.Format(time.RFC3339), m.Updated.Format(time.RFC3339))
		}
		return tw.Flush()
	}}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// eventRow is one lifecycle event as events list prints it, from the
// trail or from etcd.
type eventRow struct {
	Time     time.Time         `json:"time"`
	Action   string            `json:"action"`
	Target   string            `json:"target"`
	Actor    string            `json:"actor"`
	Reason   string            `json:"reason,omitempty"`
	Ticket   string            `json:"ticket,omitempty"`
	Details  map[string]string `json:"details,omitempty"`
	Revision int64             `json:"revision,omitempty"`
}

// eventFilter selects events by the flags of events list.
type eventFilter struct {
	since                 time.Time
	actor, action, target string
}

func (f eventFilter) match(r eventRow) bool {
	return (f.actor == "" || r.Actor == f.actor) && (f.action == "" || r.Action == f.action) && (f.target == "" || r.Target == f.target)
}

func eventsList(args []string, stdout, stderr io.Writer, now time.Time) int {
	var ef etcdFlags
	var filt eventFilter
	var since, data, format string
	fs := flag.NewFlagSet("events list", flag.ContinueOnError)
	fs.StringVar(&data, "data", "", "read the collector's trail in data `directory` (default: read the events in etcd)")
	fs.StringVar(&since, "since", "", "only events at or after this `time`: a date, an RFC 3339 time or an age such as 24h or 7d")
	fs.StringVar(&filt.actor, "actor", "", "only events by this `actor`")
	fs.StringVar(&filt.action, "action", "", "only this `action`: policy.push, key.create, key.rotate, key.revoke, token.revoke, client.suspend, client.resume")
	fs.StringVar(&filt.target, "target", "", "only events about this `target` (key id, client, policy key)")
	fs.StringVar(&format, "format", "table", "output `format`: table or json")
	ef.register(fs, false)
	if _, code, ok := parseArgs(fs, args, "", 0, stdout, stderr); !ok {
		return code
	}
	var err error
	if filt.since, err = sinceTime(since, now); err == nil && format != "table" && format != "json" {
		err = fmt.Errorf("--format %s: want table or json", format)
	}
	if err != nil {
		return usageError(stderr, fs.Name(), err)
	}
	rows, err := readEvents(data, &ef, filt)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis events list: %v\n", err)
		return 1
	}
	if format == "json" || ef.json {
		err = printJSON(stdout, rows)
	} else {
		err = printEvents(stdout, rows)
	}
	if err != nil {
		fmt.Fprintf(stderr, "portcullis events list: %v\n", err)
		return 1
	}
	return 0
}

// sinceTime parses --since: empty, an age before now, a date or a time.
func sinceTime(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := parseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	t, err := parseTimeFlag("since", v)
	if err != nil {
		return t, fmt.Errorf("--since %s: want an age (24h, 7d), a date (2026-12-01) or an RFC 3339 time", v)
	}
	return t, nil
}

// readEvents reads the events filt selects, oldest first, from the trail
// in dir or, without dir, from etcd.
func readEvents(dir string, ef *etcdFlags, filt eventFilter) ([]eventRow, error) {
	var rows []eventRow
	keep := func(r eventRow) {
		if filt.match(r) {
			rows = append(rows, r)
		}
	}
	if dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("cannot read the trail: %w", err)
		}
		return rows, collector.QueryEvents(dir, filt.since, time.Time{}, func(ev *collector.Event) error {
			r := eventRow{Time: ev.Time, Action: ev.Action, Target: ev.Target, Actor: ev.Actor, Reason: ev.Reason, Ticket: ev.Ticket}
			json.Unmarshal(ev.Details, &r.Details) // details are informational; a record without them still lists
			keep(r)
			return nil
		})
	}
	err := withAdmin(ef, func(ctx context.Context, a *etcdadmin.Admin) error {
		evs, err := a.ListEvents(ctx, filt.since, time.Time{})
		for _, e := range evs {
			keep(eventRow{Time: e.Time, Action: e.Action, Target: e.Target, Actor: e.Actor, Reason: e.Reason, Ticket: e.Ticket, Details: e.Details, Revision: e.Revision})
		}
		return err
	})
	return rows, err
}

// withAdmin connects to etcd as ef says and calls fn with an Admin.
func withAdmin(ef *etcdFlags, fn func(ctx context.Context, a *etcdadmin.Admin) error) error {
	if len(ef.config().Endpoints) == 0 {
		return errors.New("--etcd names no endpoint; give host:port")
	}
	cli, err := etcdsync.Dial(ef.config())
	if err != nil {
		return etcdHint(err, ef)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ef.timeout)
	defer cancel()
	return etcdHint(fn(ctx, etcdadmin.New(cli, ef.etcd.prefix)), ef)
}

// etcdHint adds the fix to the etcd errors an operator can fix with a
// flag or the environment.
func etcdHint(err error, ef *etcdFlags) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w (is etcd up at %s? set --etcd or PORTCULLIS_ETCD)", err, ef.etcd.endpoints)
	case errors.Is(err, rpctypes.ErrUserEmpty):
		return fmt.Errorf("%w (etcd wants a user: give --etcd-user and set PORTCULLIS_ETCD_PASSWORD)", err)
	case errors.Is(err, rpctypes.ErrAuthFailed):
		return fmt.Errorf("%w (check --etcd-user and PORTCULLIS_ETCD_PASSWORD)", err)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("%w (etcd user %q may not use prefix %s)", err, ef.etcd.conn.Username, ef.etcd.prefix)
	}
	return err
}

func printEvents(out io.Writer, rows []eventRow) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTION\tTARGET\tACTOR\tTICKET\tREASON")
	for _, r := range rows {
		actor := r.Actor
		if u := r.Details[etcdadmin.DetailEtcdUser]; u != "" {
			actor += " (etcd user " + u + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339), r.Action, r.Target, orDash(actor), orDash(r.Ticket), orDash(r.Reason))
	}
	return tw.Flush()
}
