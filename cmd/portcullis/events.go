package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/evidence"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// eventActions are the actions of the lifecycle events, in etcd and in the
// collector's trail: the values events list --action accepts.
var eventActions = []string{
	etcdadmin.ActionPolicyPush, etcdadmin.ActionKeyCreate, etcdadmin.ActionKeyRotate, etcdadmin.ActionKeyRevoke, etcdadmin.ActionTokenRevoke,
	etcdadmin.ActionClientSuspend, etcdadmin.ActionClientResume, etcdadmin.ActionTokenRevocationExpired,
	etcdsync.ActionApprovalRequest, etcdsync.ActionApprovalGrant, etcdsync.ActionApprovalDeny, etcdsync.ActionApprovalUse,
	etcdadmin.ActionCounterDelete, etcdadmin.ActionEventsGap, etcdadmin.ActionEventsRewind, etcdadmin.ActionEvidenceApprove, evidence.ActionReviewSign,
	etcdadmin.ActionRevocationDeleted, etcdadmin.ActionRevocationWritten, etcdadmin.ActionSuspensionDeleted, etcdadmin.ActionSuspensionWritten,
	etcdadmin.ActionPolicyWritten, etcdadmin.ActionPolicyDeleted, etcdadmin.ActionHistoryWritten, etcdadmin.ActionHistoryDeleted,
	etcdadmin.ActionKeyWritten, etcdadmin.ActionKeyDeleted, etcdadmin.ActionApprovalWritten, etcdadmin.ActionApprovalDeleted,
	etcdadmin.ActionEventDeleted,
	alert.ActionOpen, alert.ActionUpdate, alert.ActionTicket, alert.ActionTicketUpdate, alert.ActionTicketCloseRefused, alert.ActionAck, alert.ActionContain, alert.ActionClose,
}

// eventsCommands are the subcommands of portcullis events: the lifecycle
// events, from the collector's trail or from etcd.
func eventsCommands() group {
	return group{
		"list": {
			run:     func(args []string) int { return eventsList(args, stdout, os.Stderr, time.Now()) },
			summary: "list lifecycle events from the collector's trail (--data) or from etcd",
		},
	}
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
	// Unverified, for an event read from the trail, says why the collector
	// found the change it describes not in its etcd transaction (a
	// revocation deleted by hand: revocation.deleted_unattributed); read
	// from etcd, it holds the event.misattributed flag of an event under
	// events-by/ whose value names another etcd user than its key.
	Unverified string `json:"unverified,omitempty"`
	// Flags holds collector.FlagUnverified for an event read from the
	// trail whose entry was not verified (as audit query flags records).
	Flags []string `json:"flags,omitempty"`
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
	fs.StringVar(&filt.action, "action", "", "only this `action`: "+strings.Join(eventActions, ", "))
	fs.StringVar(&filt.target, "target", "", "only events about this `target` (key id, client, policy key)")
	fs.StringVar(&format, "format", "table", "output `format`: table or json")
	ef.register(fs, false)
	var k trailKey
	k.register(fs, false) // --etcd is where events are read without --data
	if _, code, ok := parseArgs(fs, args, "", 0, stdout, stderr); !ok {
		return code
	}
	var err error
	switch filt.since, err = sinceTime(since, now); {
	case err != nil:
	case format != "table" && format != "json":
		err = fmt.Errorf("--format %s: want table or json", format)
	case filt.action != "" && !slices.Contains(eventActions, filt.action):
		err = fmt.Errorf("--action %s: unknown action; want one of %s", filt.action, strings.Join(eventActions, ", "))
	}
	if err != nil {
		return usageError(stderr, fs.Name(), err)
	}
	rows, rep, err := readEvents(data, &ef, &k, filt)
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
	if data == "" {
		if !filt.since.IsZero() {
			fmt.Fprintln(stderr, sinceFromEtcdNote)
		}
		return 0
	}
	return verifiedExit(stderr, fs.Name(), "events", rep)
}

// sinceFromEtcdNote is what events list tells on stderr when --since
// reads etcd: etcd keeps no time of a write, so the events are selected
// by the time in their keys (EventBound), which their writer chose, as is
// the TIME printed (the value's). A person with an etcd role that writes
// events can key one before --since, and it is not listed; the
// collector's trail (--data) dates each event by when the collector read
// it from etcd's history, whoever wrote it
// (TestEventsListSinceFromEtcdSaysWhoseTime).
const sinceFromEtcdNote = "note: from etcd, --since compares the time in each event's key, which its writer chose " +
	"(etcd keeps no time of a write): an event keyed earlier is not listed; the collector's trail (--data) dates events by when it read them; " +
	"the events are in etcd's revision order"

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
// in dir or, without dir, from etcd. From the trail, with k's key, it
// verifies the store in the same read (as audit query does) and returns
// the report; each event of an entry that failed its own checks, or of
// any entry without a key, is flagged unverified.
func readEvents(dir string, ef *etcdFlags, k *trailKey, filt eventFilter) ([]eventRow, *collector.VerifyReport, error) {
	rows := []eventRow{} // none is [] in JSON, not null
	keep := func(r eventRow) {
		if filt.match(r) {
			rows = append(rows, r)
		}
	}
	if dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, nil, fmt.Errorf("cannot read the trail: %w", err)
		}
		pub, opts, err := k.options(dir)
		if err != nil {
			return nil, nil, err
		}
		rep, err := collector.ReadStore(dir, collector.Pass{VerifyKey: pub, Verify: opts, MarkVerified: true, Events: func(e *collector.Entry, ev *collector.Event) error {
			if !filt.since.IsZero() && ev.Time.Before(filt.since) {
				return nil
			}
			r := eventRow{Time: ev.Time, Action: ev.Action, Target: ev.Target, Actor: ev.Actor, Reason: ev.Reason, Ticket: ev.Ticket,
				Revision: ev.Revision, Unverified: ev.Unverified}
			json.Unmarshal(ev.Details, &r.Details) // details are informational; a record without them still lists
			if !e.Verified {
				r.Flags = []string{collector.FlagUnverified}
			}
			keep(r)
			return nil
		}})
		return rows, rep, err
	}
	err := withAdmin(ef, func(ctx context.Context, a *etcdadmin.Admin) error {
		evs, err := a.ListEvents(ctx, filt.since, time.Time{})
		for _, e := range evs {
			keep(eventRow{Time: e.Time, Action: e.Action, Target: e.Target, Actor: e.Actor, Reason: e.Reason, Ticket: e.Ticket, Details: e.Details, Revision: e.Revision,
				Unverified: e.Unverified}) // from etcd: only event.misattributed and event.etcd_auth_off flags (ListEvents)
		}
		return err
	})
	return rows, nil, err
}

func printEvents(out io.Writer, rows []eventRow) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTION\tTARGET\tACTOR\tTICKET\tREASON\tFLAGS")
	for _, r := range rows { // text from the trail or etcd is a collector.Cell: it cannot forge a line
		actor := collector.Cell(r.Actor)
		if u := r.Details[etcdadmin.DetailEtcdUser]; u != "" {
			actor += " (etcd user " + collector.Cell(u) + ")"
		}
		if u := r.Details[etcdadmin.DetailClaimedEtcdUser]; u != "" {
			actor += " (claims etcd user " + collector.Cell(u) + ", which its key does not bind)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339), collector.Cell(r.Action), collector.Cell(r.Target), actor,
			collector.Cell(r.Ticket), collector.Cell(r.Reason), orDash(strings.Join(r.Flags, ",")))
	}
	return tw.Flush()
}
