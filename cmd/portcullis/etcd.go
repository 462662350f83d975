package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// etcdCommands are the subcommands in this file by full name ("keys
// revoke"). They change and read the policy state in etcd; the logic is
// etcdadmin.Admin.
var etcdCommands = map[string]etcdCmd{}

// addEtcdCmd adds c to group g under its full name ("keys revoke").
func addEtcdCmd(g group, name, summary string, c etcdCmd) {
	c.name = name
	etcdCommands[name] = c
	g[strings.Fields(name)[1]] = command{run: func(args []string) int { return c.main(args, os.Stdout, os.Stderr) }, summary: summary}
}

func init() {
	add := addEtcdCmd
	add(policyCmds, "policy push", "validate a policy file and make it the policy in etcd", policyPushCmd())
	add(policyCmds, "policy get", "print the policy document in etcd", policyGetCmd())
	add(policyCmds, "policy diff", "show how a policy file differs from the policy in etcd (exit 1 when they differ)", policyDiffCmd())
	add(policyCmds, "policy history", "list the pushed policies with who, when and why", policyHistoryCmd())
	add(keysCmds, "keys create", "make an API key for a client and store its digest in etcd", keysCreateCmd())
	add(keysCmds, "keys rotate", "replace a key, keeping the old one valid for an overlap", keysRotateCmd())
	add(keysCmds, "keys revoke", "revoke an API key (or jti:<id> for a token) on every sidecar", keysRevokeCmd())
	add(keysCmds, "keys list", "list API key records (never secrets)", keysListCmd())
	add(keysCmds, "keys show", "show one API key record (never the secret)", keysShowCmd())
	add(clientsCmds, "clients suspend", "refuse every credential of a client for a while", clientsSuspendCmd())
	add(clientsCmds, "clients resume", "lift a client's suspension before it lapses", clientsResumeCmd())
}

// etcdFlags are the flags every etcd subcommand takes; a change adds
// --actor, --reason and --ticket.
type etcdFlags struct {
	etcd                  sidecarEtcdFlags
	actor, reason, ticket string
	timeout               time.Duration
	json                  bool
}

func (f *etcdFlags) register(fs *flag.FlagSet, change bool) {
	def := os.Getenv("PORTCULLIS_ETCD")
	if def == "" {
		def = "127.0.0.1:2379"
	}
	fs.StringVar(&f.etcd.endpoints, "etcd", def, "etcd `endpoints`, comma-separated (default $PORTCULLIS_ETCD, else 127.0.0.1:2379)")
	f.etcd.registerConn(fs)
	for _, a := range [][2]string{{"cacert", "etcd-cacert"}, {"cert", "etcd-cert"}, {"key", "etcd-key"}, {"user", "etcd-user"}, {"password", "etcd-password"}} {
		alias(fs, a[0], a[1])
	}
	fs.Lookup("password").Usage = deprecatedPrefix + "PORTCULLIS_ETCD_PASSWORD"
	if change {
		fs.StringVar(&f.actor, "actor", "", "`who` makes the change, for the record (default: the OS account)")
		fs.StringVar(&f.reason, "reason", "", "`why` the change is made, for the record")
		fs.StringVar(&f.ticket, "ticket", "", "change `ticket` of the change")
	}
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for etcd")
	fs.BoolVar(&f.json, "json", false, "print JSON")
}

func (f *etcdFlags) config() etcdsync.Config {
	c := f.etcd.config()
	c.DialTimeout = f.timeout
	return c
}

// meta is who makes the change and why; the etcd user, when etcd
// authentication is used, is recorded beside the actor.
func (f *etcdFlags) meta() etcdadmin.Meta {
	return etcdadmin.Meta{Actor: f.actor, Reason: f.reason, Ticket: f.ticket, EtcdUser: f.etcd.conn.Username}
}

// osAccount returns the name of the OS account running the command, or "".
func osAccount() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// etcdCmd is one etcd subcommand: its own flags, its positional arguments
// and what it does with an Admin.
type etcdCmd struct {
	name   string
	args   []string                 // names of the positional arguments, all required
	flags  func(fs *flag.FlagSet)   // its own flags, if any
	check  func(f *etcdFlags) error // usage checks beyond the arguments
	change bool                     // a change: takes --actor, --reason and --ticket
	run    func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error
}

// main parses args (flags may follow the positional arguments), connects
// and runs the command: exit 2 on a usage error, 1 on a failure.
func (c etcdCmd) main(args []string, stdout, stderr io.Writer) int {
	var f etcdFlags
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	f.register(fs, c.change)
	if c.flags != nil {
		c.flags(fs)
	}
	pos, code, ok := parseArgs(fs, args, strings.Join(c.args, " "), len(c.args), stdout, stderr)
	if !ok {
		return code
	}
	if err := c.usage(&f); err != nil {
		return usageError(stderr, c.name, err)
	}
	if err := c.connectAndRun(&f, pos, stdout); err != nil {
		if errors.Is(err, errExit1) {
			return 1
		}
		fmt.Fprintf(stderr, "portcullis %s: %v\n", c.name, err)
		return 1
	}
	return 0
}

// errExit1 makes a command exit 1 without a message: it said what it had
// to on stdout (policy diff on a difference).
var errExit1 = errors.New("exit 1")

// usage checks the flags.
func (c etcdCmd) usage(f *etcdFlags) error {
	if c.change && f.actor == "" {
		if f.actor = osAccount(); f.actor == "" {
			return errors.New("--actor is required: the OS account has no name; say who makes the change")
		}
	}
	switch {
	case len(f.config().Endpoints) == 0:
		return errors.New("--etcd names no endpoint; give host:port")
	case c.check != nil:
		return c.check(f)
	}
	return nil
}

func (c etcdCmd) connectAndRun(f *etcdFlags, pos []string, stdout io.Writer) error {
	return withAdmin(f, func(ctx context.Context, a *etcdadmin.Admin) error { return c.run(ctx, a, f, pos, stdout) })
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func policyPushCmd() etcdCmd {
	var expect int64
	return etcdCmd{
		args:   []string{"FILE"},
		change: true,
		flags: func(fs *flag.FlagSet) {
			fs.Int64Var(&expect, "expect-revision", 0, "refuse the push unless the policy in etcd is at this `revision`")
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
			doc, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("cannot read policy %q: %w", args[0], err)
			}
			rev, err := a.PushPolicy(ctx, doc, expect, f.meta())
			if perr := (*policy.Error)(nil); errors.As(err, &perr) {
				perr.File = args[0]
				return fmt.Errorf("policy refused:\n%w", perr)
			}
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(out, map[string]any{"file": args[0], "revision": rev})
			}
			_, err = fmt.Fprintf(out, "pushed %s to %s/policy: revision %d\n", args[0], a.Prefix(), rev)
			return err
		},
	}
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
		doc, err := os.ReadFile(args[0])
		if err != nil {
			return fmt.Errorf("cannot read policy %q: %w", args[0], err)
		}
		d, err := a.DiffPolicy(ctx, args[0], doc)
		if err != nil {
			return err
		}
		if d == "" {
			_, err = fmt.Fprintf(out, "%s is the policy in etcd; no differences\n", args[0])
			return err
		}
		if _, err := io.WriteString(out, d); err != nil {
			return err
		}
		return errExit1 // as diff(1): the documents differ
	}}
}

func policyHistoryCmd() etcdCmd {
	var limit int
	return etcdCmd{
		flags: func(fs *flag.FlagSet) { fs.IntVar(&limit, "limit", 20, "show the newest `n` pushes (0: all)") },
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
			hist, err := a.PolicyHistory(ctx, limit)
			if err != nil || f.json {
				return errors.Join(err, printJSONUnless(err, out, hist))
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

// printJSONUnless prints v as JSON unless err is set.
func printJSONUnless(err error, out io.Writer, v any) error {
	if err != nil {
		return nil
	}
	return printJSON(out, v)
}

func keysCreateCmd() etcdCmd {
	var client string
	var ttl time.Duration
	return etcdCmd{
		change: true,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&client, "client", "", "client `id` the key belongs to (required)")
			fs.DurationVar(&ttl, "ttl", 0, "how long the key is valid (default: no expiry)")
		},
		check: func(*etcdFlags) error {
			if client == "" {
				return errors.New("--client is required; name the client the key is for")
			}
			if ttl < 0 {
				return fmt.Errorf("--ttl %s is negative; give how long the key is valid, e.g. 90d", ttl)
			}
			return nil
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
			key, spec, err := a.CreateKey(ctx, client, ttl, f.meta())
			if err != nil {
				return err
			}
			return printNewKey(out, f.json, key, spec, "")
		},
	}
}

// printNewKey prints a key made just now, once, with its record.
func printNewKey(out io.Writer, asJSON bool, key string, spec policy.KeySpec, note string) error {
	if asJSON {
		return printJSON(out, map[string]any{"key": key, "record": spec})
	}
	_, err := fmt.Fprintf(out, "API key for client %s (shown once, it will not be shown again; store it now):\n\n  %s\n\nid %s, valid from %s until %s%s\n",
		spec.Client, key, spec.ID, orDash(spec.NotBefore), orNever(spec.NotAfter), note)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNever(s string) string {
	if s == "" {
		return "no expiry"
	}
	return s
}

func keysRotateCmd() etcdCmd {
	var overlap time.Duration
	return etcdCmd{
		args:   []string{"ID"},
		change: true,
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&overlap, "overlap", 0, "how long the old key stays valid (required, e.g. 24h)")
		},
		check: func(*etcdFlags) error {
			if overlap <= 0 {
				return errors.New("--overlap is required; give how long the old key stays valid, e.g. 24h")
			}
			return nil
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
			key, spec, err := a.RotateKey(ctx, args[0], overlap, f.meta())
			if err != nil {
				return err
			}
			return printNewKey(out, f.json, key, spec, fmt.Sprintf("\nthe old key %s stays valid for %s", args[0], overlap))
		},
	}
}

func keysRevokeCmd() etcdCmd {
	return etcdCmd{
		args:   []string{"ID"},
		change: true,
		check:  needReason,
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
			rev, err := a.RevokeKey(ctx, args[0], f.meta())
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(out, map[string]any{"revoked": args[0], "revision": rev})
			}
			_, err = fmt.Fprintf(out, "revoked %s at revision %d\n", args[0], rev)
			return err
		},
	}
}

func needReason(f *etcdFlags) error {
	if f.reason == "" {
		return errors.New("--reason is required; say why, for the record")
	}
	return nil
}

func keysListCmd() etcdCmd {
	var client string
	return etcdCmd{
		flags: func(fs *flag.FlagSet) { fs.StringVar(&client, "client", "", "only the keys of client `id`") },
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
			keys, err := a.ListKeys(ctx, client)
			if err != nil || f.json {
				return errors.Join(err, printJSONUnless(err, out, keys))
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCLIENT\tSTATUS\tNOT BEFORE\tNOT AFTER\tSOURCE\tCREATED BY\tTICKET")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Client, keyStatus(k, time.Now()), orDash(k.NotBefore), orDash(k.NotAfter), k.Source, orDash(k.CreatedBy), orDash(k.Ticket))
			}
			return tw.Flush()
		},
	}
}

// keyStatus says whether k is usable at now, and if not why.
func keyStatus(k etcdadmin.KeyInfo, now time.Time) string {
	nb, _ := time.Parse(time.RFC3339, k.NotBefore)
	na, _ := time.Parse(time.RFC3339, k.NotAfter)
	switch {
	case k.IsRevoked():
		return "revoked"
	case !nb.IsZero() && now.Before(nb):
		return "not yet valid"
	case !na.IsZero() && !now.Before(na):
		return "expired"
	}
	return "valid"
}

func keysShowCmd() etcdCmd {
	return etcdCmd{args: []string{"ID"}, run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
		k, err := a.ShowKey(ctx, args[0])
		if err != nil || f.json {
			return errors.Join(err, printJSONUnless(err, out, k))
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, row := range [][2]string{
			{"id", k.ID}, {"client", k.Client}, {"status", keyStatus(k, time.Now())}, {"sha256", k.SHA256},
			{"not before", orDash(k.NotBefore)}, {"not after", orDash(k.NotAfter)}, {"source", k.Source},
			{"created by", orDash(k.CreatedBy)}, {"ticket", orDash(k.Ticket)},
		} {
			fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
		}
		if r := k.Revocation; r != nil {
			fmt.Fprintf(tw, "revoked:\t%s by %s (%s) %s\n", r.Time.Format(time.RFC3339), r.Actor, r.Reason, r.Ticket)
		}
		if k.Successor != "" {
			fmt.Fprintf(tw, "replaced by:\t%s (rotation)\n", k.Successor)
		}
		return tw.Flush()
	}}
}

func clientsSuspendCmd() etcdCmd {
	var d time.Duration
	return etcdCmd{
		args:   []string{"CLIENT"},
		change: true,
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&d, "for", 0, "how long the suspension lasts (required, e.g. 1h)")
		},
		check: func(f *etcdFlags) error {
			if d <= 0 {
				return errors.New("--for is required; give how long the suspension lasts, e.g. 1h")
			}
			return needReason(f)
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
			s, err := a.Suspend(ctx, args[0], d, f.meta())
			if err != nil || f.json {
				return errors.Join(err, printJSONUnless(err, out, s))
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
