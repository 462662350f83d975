package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// incidentCommands are the compromised-credential runbook as commands
// (issue 14): contain through etcd, assess and report from the collector's
// trail.
func incidentCommands() group {
	return group{
		"contain": etcdCommand("incident contain", "suspend a client and/or revoke its keys by hand, with the same records as a rule action", incidentContainCmd()),
		"assess":  {run: func(args []string) int { return incidentAssess(args, stdout, os.Stderr) }, summary: "what a client's credentials did in a period, from the trail"},
		"report":  {run: func(args []string) int { return incidentReport(args, stdout, os.Stderr) }, summary: "an alert's whole chain as one document: detection, ticket, containment, assessment, closure"},
	}
}

func incidentContainCmd() etcdCmd {
	var client, alertID string
	var suspend time.Duration
	var revokeKeys bool
	return etcdCmd{
		change: true,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&client, "client", "", "the `client` to contain")
			fs.DurationVar(&suspend, "suspend", 0, "suspend the client for this `duration`")
			fs.BoolVar(&revokeKeys, "revoke-keys", false, "revoke every API key of the client")
			fs.StringVar(&alertID, "alert", "", "the alert `id` this contains (recorded as alert.contain)")
		},
		check: func(f *etcdFlags) error {
			switch {
			case client == "":
				return errors.New("--client is required; name the client to contain")
			case etcdadmin.Blank(f.ticket):
				return errors.New("--ticket is required; name the incident ticket")
			case suspend <= 0 && !revokeKeys:
				return errors.New("give --suspend D, --revoke-keys or both")
			}
			if f.reason == "" {
				f.reason = "incident " + f.ticket
				if alertID != "" {
					f.reason = "alert " + alertID + ": " + f.reason
				}
			}
			return nil
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
			return containByHand(ctx, a, f.meta(), client, alertID, suspend, revokeKeys, out)
		},
	}
}

// containByHand suspends and/or revokes, then records alert.contain when
// an alert is named.
func containByHand(ctx context.Context, a *etcdadmin.Admin, meta etcdadmin.Meta, client, alertID string, suspend time.Duration, revokeKeys bool, out io.Writer) error {
	details := map[string]string{"client": client, "action": "manual"}
	if suspend > 0 {
		s, err := a.Suspend(ctx, client, suspend, meta)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "suspended %s until %s\n", client, s.Until.Format(time.RFC3339))
		details["for"] = suspend.String()
	}
	if revokeKeys {
		keys, err := a.ListKeys(ctx, client)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			// No key of that exact id: a typo or a prefix of a client
			// (globex for globex-bi) must not be recorded as contained.
			if err := knownClient(ctx, a, client); err != nil {
				return err
			}
			fmt.Fprintf(out, "client %s has no API key to revoke\n", client)
		}
		for _, k := range keys {
			if k.IsRevoked() {
				continue
			}
			if _, err := a.RevokeKey(ctx, k.ID, meta); err != nil && !errors.Is(err, etcdadmin.ErrExists) {
				return err
			}
			fmt.Fprintf(out, "revoked key %s\n", k.ID)
		}
		details["revoke_keys"] = "true"
	}
	if alertID == "" {
		return nil
	}
	_, err := a.RecordAlertEvent(ctx, alert.ActionContain, alertID, meta, details)
	if err == nil {
		fmt.Fprintf(out, "recorded alert.contain for %s\n", alertID)
	}
	return err
}

// knownClient returns an error naming client when the policy in etcd has
// no client of that id.
func knownClient(ctx context.Context, a *etcdadmin.Admin, client string) error {
	cs, err := a.ListClients(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.ID == client {
			return nil
		}
	}
	return fmt.Errorf("client %q is not in the policy and has no API key: nothing to contain (client ids are exact; portcullis clients list names them): %w", client, etcdadmin.ErrNotFound)
}

func incidentAssess(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("incident assess", flag.ContinueOnError)
	dir := fs.String("data", "", "collector data `directory`")
	client := fs.String("client", "", "the `client` to assess")
	from := fs.String("from", "", "start `time` (inclusive): RFC 3339 or a date")
	to := fs.String("to", "", "end `time` (exclusive): RFC 3339 or a date")
	pol := fs.String("policy", "", "policy `file` naming the privileged and bulk routes (and whose keys are whose)")
	format := fs.String("format", "table", "output: table or json")
	var k trailKey
	k.register(fs, true)
	if _, code, ok := parseArgs(fs, args, "", 0, stdout, stderr); !ok {
		return code
	}
	f, t, err := parseRange(*from, *to)
	if err == nil {
		err = checkAlertFlags(*dir, *format)
	}
	if err == nil && *client == "" {
		err = errors.New("--client is required; name the client to assess")
	}
	if err != nil {
		return usageError(stderr, fs.Name(), err)
	}
	doc, err := optionalPolicy(*pol)
	if err != nil {
		return exitOf(err, stderr, fs.Name())
	}
	pub, opts, err := k.options(*dir)
	if err != nil {
		return exitOf(err, stderr, fs.Name())
	}
	a, rep, err := alert.AssessVerified(*dir, *client, f, t, doc, pub, opts)
	if err != nil {
		return exitOf(err, stderr, fs.Name())
	}
	if a.Policy == alert.PolicyUnknown {
		// Said on stderr too: an empty report of a misspelt client read
		// as "it did nothing".
		fmt.Fprintf(stderr, "warning: client %q is not in the policy %s (client ids are exact); the trail holds %d requests of it in the range\n", a.Client, *pol, a.Records)
	}
	if *format == "json" {
		err = printJSON(stdout, a)
	} else {
		err = alert.WriteAssessment(stdout, a)
	}
	if code := exitOf(err, stderr, fs.Name()); code != 0 {
		return code
	}
	return verifiedExit(stderr, fs.Name(), "records", rep)
}

func incidentReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("incident report", flag.ContinueOnError)
	dir := fs.String("data", "", "collector data `directory`")
	pol := fs.String("policy", "", "policy `file` naming the privileged and bulk routes")
	format := fs.String("format", "markdown", "output: markdown or json")
	var k trailKey
	k.register(fs, true)
	pos, code, ok := parseArgs(fs, args, "ALERT-ID", 1, stdout, stderr)
	if !ok {
		return code
	}
	switch {
	case *dir == "":
		return usagef(stderr, fs.Name(), "--data is required; name the collector's data directory")
	case *format != "markdown" && *format != "json":
		return usagef(stderr, fs.Name(), "--format %s: want markdown or json", *format)
	}
	doc, err := optionalPolicy(*pol)
	if err != nil {
		return exitOf(err, stderr, fs.Name())
	}
	pub, opts, err := k.options(*dir)
	if err != nil {
		return exitOf(err, stderr, fs.Name())
	}
	r, rep, err := alert.BuildVerifiedReport(*dir, pos[0], doc, pub, opts)
	if err != nil {
		return exitOf(err, stderr, fs.Name())
	}
	if *format == "json" {
		err = printJSON(stdout, r)
	} else {
		err = alert.WriteMarkdown(stdout, r)
	}
	if code := exitOf(err, stderr, fs.Name()); code != 0 {
		return code
	}
	return verifiedExit(stderr, fs.Name(), "the alert's changes, enforcement and records", rep)
}

func optionalPolicy(file string) (*policy.Document, error) {
	if file == "" {
		return nil, nil
	}
	return loadPolicyFile(file)
}
