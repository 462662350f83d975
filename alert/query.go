package alert

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// Filter selects alerts; zero fields match everything.
type Filter struct {
	Status string
	Rule   string
	Tenant string
	Since  time.Time // opened or seen at or after
}

// Match reports whether a passes the filter.
func (f *Filter) Match(a *Alert) bool {
	switch {
	case f.Status != "" && a.Status != f.Status:
		return false
	case f.Rule != "" && a.Rule != f.Rule:
		return false
	case f.Tenant != "" && a.Tenant != f.Tenant:
		return false
	case !f.Since.IsZero() && a.LastSeen.Before(f.Since):
		return false
	}
	return true
}

// Load returns the alerts stored in the trail in dir, oldest first, with
// their lifecycle as the trail holds it.
func Load(dir string) ([]Alert, error) {
	e, err := New(Config{})
	if err != nil {
		return nil, err
	}
	if err := e.Replay(dir); err != nil {
		return nil, err
	}
	return e.Alerts(), nil
}

// LoadVerified is Load verifying what it reads with pub and opts, as
// incident report does: the alerts are rebuilt from the entries that pass
// their own checks only (as detection replays the trail, Config.TrailKey)
// and the store is verified as a whole as collector.VerifyWith does. It
// returns the report and the number of entries that failed their checks
// and were left out. With a nil pub nothing is verified: the alerts are
// Load's, each flagged collector.FlagUnverified, and the report is nil.
func LoadVerified(dir string, pub ed25519.PublicKey, opts collector.VerifyOptions) ([]Alert, *collector.VerifyReport, int, error) {
	if pub == nil {
		all, err := Load(dir)
		for i := range all {
			all[i].Flags = []string{collector.FlagUnverified}
		}
		return all, nil, 0, err
	}
	e, err := New(Config{TrailKey: pub})
	if err != nil {
		return nil, nil, 0, err
	}
	st, err := e.replayAll(dir)
	if err != nil {
		return nil, nil, 0, err
	}
	rep, err := collector.ReadStore(dir, collector.Pass{VerifyKey: pub, Verify: opts})
	if err != nil {
		return nil, nil, 0, err
	}
	return e.Alerts(), rep, st.Unverified, nil
}

// WriteTable writes alerts as an aligned table, one line each.
func WriteTable(w io.Writer, alerts []Alert) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tSEVERITY\tRULE\tGROUP\tCOUNT\tOPENED\tLAST SEEN\tTICKETS\tFLAGS")
	for i := range alerts {
		a := plainAlert(&alerts[i]) // no field moves the terminal's cursor
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s=%s\t%d\t%s\t%s\t%s\t%s\n", a.ID, a.Status, a.Severity, a.Rule, a.Group, a.Key, a.Count,
			a.Opened.UTC().Format(time.RFC3339), a.LastSeen.UTC().Format(time.RFC3339), ticketKeys(a.Tickets), dash(strings.Join(a.Flags, ",")))
	}
	return tw.Flush()
}

func ticketKeys(ts []Ticket) string {
	if len(ts) == 0 {
		return "-"
	}
	keys := make([]string, len(ts))
	for i, t := range ts {
		keys[i] = t.Sink + ":" + t.Key
	}
	return strings.Join(keys, ",")
}

// WriteText writes one alert's evidence: the rule and its window, who,
// the matching records' request ids, and every lifecycle change.
func WriteText(w io.Writer, a *Alert) error {
	a = plainAlert(a) // no field moves the terminal's cursor or starts a line
	fmt.Fprintf(w, "alert     %s\nstatus    %s\nrule      %s (%s, severity %s, window %s, action %s)\n", a.ID, a.Status, a.Rule, a.Kind, a.Severity, a.Window, a.RuleAction)
	fmt.Fprintf(w, "group     %s=%s\ntenant    %s\nclient    %s\nkey id    %s\n", a.Group, a.Key, dash(a.Tenant), dash(a.Client), dash(a.KeyID))
	fmt.Fprintf(w, "count     %d\nopened    %s\nlast seen %s\n", a.Count, a.Opened.UTC().Format(time.RFC3339Nano), a.LastSeen.UTC().Format(time.RFC3339Nano))
	if a.Previous != "" {
		fmt.Fprintf(w, "previous  %s\n", a.Previous)
	}
	if a.Folded > 0 {
		fmt.Fprintf(w, "folded    %d %s groups past the rule's %d open alerts, the first: %s\n", a.Folded, a.Group, maxOpenPerRule, strings.Join(a.FoldedKeys, " "))
	}
	fmt.Fprintf(w, "tickets   %s\nrequests  %s\n", ticketKeys(a.Tickets), dash(strings.Join(a.RequestIDs, " ")))
	if len(a.Flags) > 0 {
		fmt.Fprintf(w, "flags     %s\n", strings.Join(a.Flags, ","))
	}
	fmt.Fprintln(w, "history:")
	for _, c := range a.History {
		fmt.Fprintf(w, "  %s  %-13s by %s", c.Time.UTC().Format(time.RFC3339), c.Action, dash(c.Actor))
		if c.Reason != "" {
			fmt.Fprintf(w, ": %s", c.Reason)
		}
		if ca := c.Details["corrective_action"]; ca != "" {
			fmt.Fprintf(w, " (corrective action: %s)", ca)
		}
		fmt.Fprintln(w)
	}
	_, err := fmt.Fprintf(w, "")
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
