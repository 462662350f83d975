package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/credential"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"go.yaml.in/yaml/v3"
)

// keysCommands are the subcommands of portcullis keys: generate makes a
// key record for the policy file, the others change and read the keys in
// etcd.
func keysCommands() group {
	return group{
		"generate": {
			run:     func(args []string) int { return keysGenerate(args, stdout, os.Stderr, time.Now()) },
			summary: "make a new API key and print its record for the policy's keys:",
		},
		"create":            etcdCommand("keys create", "make an API key for a client and store its digest in etcd", keysCreateCmd()),
		"rotate":            etcdCommand("keys rotate", "replace a key, keeping the old one valid for an overlap", keysRotateCmd()),
		"revoke":            etcdCommand("keys revoke", "revoke an API key (or jti:<id> for a token) on every sidecar", keysRevokeCmd()),
		"prune-revocations": etcdCommand("keys prune-revocations", "delete the token revocations that expired an hour ago or more (revoked with --token-exp)", keysPruneCmd()),
		"list":              etcdCommand("keys list", "list API key records (never secrets)", keysListCmd()),
		"show":              etcdCommand("keys show", "show one API key record (never the secret)", keysShowCmd()),
	}
}

// keysGenerate makes a new API key for a client, prints it once and then
// the key record to paste under keys:. now is the default not-before.
func keysGenerate(args []string, stdout, stderr io.Writer, now time.Time) int {
	fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	client := fs.String("client", "", "client `id` the key belongs to (required)")
	notBefore := fs.String("not-before", "", "RFC 3339 `time` the key becomes valid (default: now)")
	ttl := fs.Duration("ttl", 0, "how long the key is valid after not-before (default: no expiry)")
	createdBy := fs.String("created-by", "", "`name` of who made the key, for the record (default: the OS account)")
	ticket := fs.String("ticket", "", "change `ticket` the key was made for")
	if _, code, ok := parseArgs(fs, args, "", 0, stdout, stderr); !ok {
		return code
	}
	writeErrorsOnBrokenPipe()
	nb, err := keyWindow(*client, *notBefore, *ttl, now)
	if err == nil {
		err = checkTTL(fs, *ttl)
	}
	if err != nil {
		return usageError(stderr, fs.Name(), err)
	}
	if *createdBy == "" {
		*createdBy = osAccount()
	}
	var na time.Time
	if *ttl > 0 {
		na = nb.Add(*ttl)
	}
	key, spec, err := policy.GenerateKey(*client, *createdBy, *ticket, nb, na)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis keys generate: %v\n", err)
		return 1
	}
	spec.CreatedAt = now.UTC().Truncate(time.Second).Format(time.RFC3339) // the start of its age (lifecycle.max_key_age)
	return printKey(stdout, stderr, key, spec)
}

// checkTTL refuses a --ttl given as 0, a key that expires at once: 0 is
// also what "not given" holds, which made it a key for the default span.
func checkTTL(fs *flag.FlagSet, ttl time.Duration) error {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "ttl" })
	if given && ttl == 0 {
		return errors.New("--ttl 0s: a key that expires at once; give how long the key is valid, e.g. 90d, or leave --ttl out for the default")
	}
	return nil
}

// keyWindow checks the flags of keys generate and returns the not-before time.
func keyWindow(client, notBefore string, ttl time.Duration, now time.Time) (time.Time, error) {
	switch {
	case client == "":
		return time.Time{}, fmt.Errorf("--client is required; name the client the key is for")
	case ttl < 0:
		return time.Time{}, fmt.Errorf("--ttl %s is negative", ttl)
	case notBefore == "":
		return now.Truncate(time.Second), nil
	}
	nb, err := time.Parse(time.RFC3339, notBefore)
	if err != nil {
		return time.Time{}, fmt.Errorf("--not-before %s: want an RFC 3339 time such as 2026-01-02T15:04:05Z", notBefore)
	}
	return nb, nil
}

// printKey prints the key once, then its record as a YAML list item.
func printKey(stdout, stderr io.Writer, key string, spec policy.KeySpec) int {
	out, err := yaml.Marshal([]policy.KeySpec{spec})
	if err != nil {
		fmt.Fprintf(stderr, "portcullis keys generate: cannot encode key record %q: %v\n", spec.ID, err)
		return 1
	}
	_, err = fmt.Fprintf(stdout, "API key for client %s (shown once, it will not be shown again; store it now):\n\n  %s\n\n", spec.Client, key)
	if err == nil {
		_, err = fmt.Fprintf(stdout, "Key record, to paste under keys: (only the SHA-256 of the key is kept):\n\n%s", indent(out))
	}
	if err != nil { // it exited 0, the key lost: a full disk, a closed file
		fmt.Fprintf(stderr, "portcullis keys generate: cannot print the key: %v; nothing was kept, run it again with another output\n", err)
		return 1
	}
	return 0
}

// indent prefixes every non-empty line with two spaces.
func indent(b []byte) []byte {
	var out []byte
	start := true
	for _, c := range b {
		if start && c != '\n' {
			out = append(out, ' ', ' ')
		}
		out = append(out, c)
		start = c == '\n'
	}
	return out
}

func keysCreateCmd() etcdCmd {
	var client, approval string
	var ttl time.Duration
	var flags *flag.FlagSet
	return etcdCmd{
		change: true,
		flags: func(fs *flag.FlagSet) {
			flags = fs
			fs.StringVar(&client, "client", "", "client `id` the key belongs to (required)")
			fs.StringVar(&approval, "approval", "", "granted approval `id` for \"keys create\" (needed under lifecycle.privileged_key_approval for a client with a privileged scope)")
			fs.DurationVar(&ttl, "ttl", 0, "how long the key is valid (default: the policy's lifecycle.max_key_age, else no expiry; never longer)")
		},
		check: func(*etcdFlags) error {
			if client == "" {
				return errors.New("--client is required; name the client the key is for")
			}
			if ttl < 0 {
				return fmt.Errorf("--ttl %s is negative; give how long the key is valid, e.g. 90d", ttl)
			}
			return checkTTL(flags, ttl)
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
			meta := f.meta()
			meta.Approval = approval
			key, spec, err := a.CreateKey(ctx, client, ttl, meta)
			if err != nil {
				return err
			}
			return printNewKey(out, f.json, key, spec, "")
		},
	}
}

// printNewKey prints a key made just now, once, with its record. When it
// cannot, the error says that the key is in etcd, valid, and that nobody
// holds it: it said only "write /dev/stdout: no space left on device",
// and the operator did not know a key to revoke was left behind.
func printNewKey(out io.Writer, asJSON bool, key string, spec policy.KeySpec, note string) error {
	var err error
	if asJSON {
		err = printJSON(out, map[string]any{"key": key, "record": spec})
	} else {
		_, err = fmt.Fprintf(out, "API key for client %s (shown once, it will not be shown again; store it now):\n\n  %s\n\nid %s, valid from %s until %s%s\n",
			spec.Client, key, spec.ID, orDash(spec.NotBefore), orNever(spec.NotAfter), note)
	}
	if err != nil {
		if note = strings.TrimSpace(note); note != "" {
			note = "; " + note
		}
		return fmt.Errorf("key %s was made in etcd but could not be printed (%w), so nobody holds it: revoke it with portcullis keys revoke %s, and make another%s", spec.ID, err, spec.ID, note)
	}
	return nil
}

func orNever(s string) string {
	if s == "" {
		return "no expiry"
	}
	return s
}

func keysRotateCmd() etcdCmd {
	var overlap time.Duration
	var approval string
	return etcdCmd{
		args:   []string{"ID"},
		change: true,
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&overlap, "overlap", 0, "how long the old key stays valid (required, e.g. 24h)")
			fs.StringVar(&approval, "approval", "", "granted approval `id` for \"keys rotate\" of the key's client (needed under lifecycle.privileged_key_approval for a client with a privileged scope: the successor is a new key; a \"keys create\" approval is refused)")
		},
		check: func(*etcdFlags) error {
			if overlap <= 0 {
				return errors.New("--overlap is required; give how long the old key stays valid, e.g. 24h")
			}
			return nil
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
			meta := f.meta()
			meta.Approval = approval
			key, spec, err := a.RotateKey(ctx, args[0], overlap, meta)
			if err != nil {
				return err
			}
			return printNewKey(out, f.json, key, spec, fmt.Sprintf("\nthe old key %s stays valid for %s", args[0], overlap))
		},
	}
}

func keysRevokeCmd() etcdCmd {
	var tokenExp string
	var held bool
	return etcdCmd{
		args:   []string{"ID"},
		change: true,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&tokenExp, "token-exp", "", "with jti:<id>: the token's exp, unix seconds or an RFC 3339 `time`; the revocation expires 5m after it (the most clock skew an issuer gives) and may be pruned an hour after that (default: never)")
			fs.BoolVar(&held, "held", false, "revoke an ID that is no key any more: a revocation the sidecars hold since etcd went back (their error line names it), whose key record is gone")
		},
		check: func(f *etcdFlags) error {
			if _, err := parseTokenExp(tokenExp); err != nil {
				return err
			}
			return needReason(f)
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, args []string, out io.Writer) error {
			// The id is written to etcd (the revocation's path and record,
			// the event's target) and named in every error: a whole key or
			// token pasted for it, as --reason's text is redacted, is
			// refused here, unechoed (TestKeysRevokeRefusesAPastedCredentialAsID).
			if credential.Redact(args[0]) != args[0] {
				return errors.New("the ID reads as a credential (a whole API key or token); give the key id (pk_<id>_<secret>: the <id>) or jti:<the token's jti claim>, and rotate what was pasted")
			}
			exp, _ := parseTokenExp(tokenExp)
			jti, isToken := strings.CutPrefix(args[0], etcdsync.JTIPrefix)
			var rev int64
			var err error
			switch {
			case isToken && held:
				err = fmt.Errorf("--held is for a key id whose record is gone, not the token %q", args[0])
			case isToken:
				rev, err = a.RevokeToken(ctx, jti, exp, f.meta())
			case !exp.IsZero():
				err = fmt.Errorf("--token-exp is for a token's revocation (jti:<id>), not the key %q", args[0])
			case held:
				rev, err = a.RevokeHeld(ctx, args[0], f.meta())
			default:
				rev, err = a.RevokeKey(ctx, args[0], f.meta())
			}
			if errors.Is(err, etcdadmin.ErrNotFound) {
				return fmt.Errorf("%w; if the sidecars hold a revocation of %s since etcd went back (restored from a backup), give --held to write it again", err, args[0])
			}
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

// parseTokenExp parses --token-exp: a JWT's exp as it is (unix seconds),
// or an RFC 3339 time; "" is zero.
func parseTokenExp(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 || n > 1e11 {
			return time.Time{}, fmt.Errorf("--token-exp %s: want unix seconds after the epoch, before the year 5138", v)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--token-exp %s: want the token's exp in unix seconds (1767225600) or an RFC 3339 time (2026-01-01T00:00:00Z)", v)
	}
	return t, nil
}

// keysPruneCmd deletes the token revocations that expired PruneGrace ago or more.
func keysPruneCmd() etcdCmd {
	return etcdCmd{
		change: true,
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
			m := f.meta()
			if m.Reason == "" {
				m.Reason = "token expired"
			}
			pruned, err := a.PruneRevocations(ctx, m)
			if f.json && err == nil {
				return printJSON(out, map[string]any{"pruned": pruned})
			}
			for _, id := range pruned {
				fmt.Fprintf(out, "pruned %s\n", id)
			}
			if err == nil {
				_, err = fmt.Fprintf(out, "%d expired token revocations pruned\n", len(pruned))
			}
			return err
		},
	}
}

func keysListCmd() etcdCmd {
	var client string
	var expiring time.Duration
	return etcdCmd{
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&client, "client", "", "only the keys of client `id`")
			fs.DurationVar(&expiring, "expiring", 0, "only the keys that stop being valid `within` this time (e.g. 30d), with their ages against the lifecycle policy")
		},
		check: func(*etcdFlags) error {
			if expiring < 0 {
				return fmt.Errorf("--expiring %s is negative; give a window such as 30d", expiring)
			}
			return nil
		},
		run: func(ctx context.Context, a *etcdadmin.Admin, f *etcdFlags, _ []string, out io.Writer) error {
			keys, bad, err := a.KeyRecords(ctx, client)
			if err == nil && expiring > 0 {
				return errors.Join(keysExpiring(ctx, a, f, keys, expiring, out), invalidRecords(bad)) // keys_expiring.go
			}
			if err != nil || f.json {
				return errors.Join(errOrJSON(err, out, keys), invalidRecords(bad))
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCLIENT\tSTATUS\tNOT BEFORE\tNOT AFTER\tSOURCE\tCREATED BY\tTICKET")
			for _, k := range keys {
				// A record's texts are its writer's (an operator's role
				// writes keys/): cells, never escapes or lines of their
				// own (TestKeysListAndShowPrintEtcdTextPlain).
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", collector.Cell(k.ID), collector.Cell(k.Client), keyStatus(k, time.Now()),
					collector.Cell(k.NotBefore), collector.Cell(k.NotAfter), collector.Cell(k.Source), collector.Cell(k.CreatedBy), collector.Cell(k.Ticket))
			}
			return errors.Join(tw.Flush(), invalidRecords(bad))
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
	case k.Skipped != "":
		return "skipped by the sidecars" // keys show says why
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
			return errOrJSON(err, out, k)
		}
		// The record's and its revocation's texts are their writers'
		// (an operator's role writes keys/, the collector's certificate
		// revocations/): cells, never escapes or lines of their own
		// (TestKeysListAndShowPrintEtcdTextPlain). Skipped quotes them.
		cell := collector.Cell
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, row := range [][2]string{
			{"id", cell(k.ID)}, {"client", cell(k.Client)}, {"status", keyStatus(k, time.Now())}, {"sha256", cell(k.SHA256)},
			{"not before", cell(k.NotBefore)}, {"not after", cell(k.NotAfter)}, {"source", cell(k.Source)},
			{"created by", cell(k.CreatedBy)}, {"ticket", cell(k.Ticket)},
		} {
			fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
		}
		if r := k.Revocation; r != nil {
			fmt.Fprintf(tw, "revoked:\t%s by %s (%s) %s\n", r.Time.Format(time.RFC3339), cell(r.Actor), cell(r.Reason), cell(r.Ticket))
		}
		if k.Skipped != "" {
			fmt.Fprintf(tw, "skipped:\t%s (the sidecars leave the record out: it authenticates nothing)\n", k.Skipped)
		}
		if k.Successor != "" {
			fmt.Fprintf(tw, "replaced by:\t%s (rotation)\n", cell(k.Successor))
		}
		return tw.Flush()
	}}
}
