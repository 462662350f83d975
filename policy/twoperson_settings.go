package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// settingWeakenings lists what next loosens of cur's staleness bound,
// audit mode and collector, and detection rules (and their sinks). Each is a control of its own that one
// operator's push undid alone: staleness.action serve keeps a revoked
// key working through an etcd outage, audit.mode best_effort serves
// requests the trail never holds, and a detection rule removed or
// loosened stops the alert (or suspension) that would have shown a
// stolen key in use. Before, each was a plain push
// (TestWeakeningsSettings).
func settingWeakenings(cur, next *Document) []string {
	var out []string
	if was, err := parseDuration(cur.Staleness.MaxAge); err == nil && was > 0 {
		now, err := parseDuration(next.Staleness.MaxAge)
		if err != nil || now == 0 || now > was {
			out = append(out, fmt.Sprintf("staleness.max_age lengthened from %s to %s", was, ageText(now)))
		}
		if cur.Staleness.Action != "serve" && next.Staleness.Action == "serve" {
			out = append(out, "staleness.action turned from deny to serve")
		}
	}
	if cur.Audit.Mode == "strict" && next.Audit.Mode != "strict" {
		out = append(out, fmt.Sprintf("audit.mode turned from strict to %s", cmpOr(next.Audit.Mode, "best_effort")))
	}
	// The collector the sidecars without --collector send to: another
	// one holds the trail from then on, out of the store the evidence
	// pack reads, and strict mode serves on, since that one accepts
	// (TestWeakeningsAuditTrailAndAlertsRedirected). The URLs are not
	// quoted: one may carry a credential.
	if cur.Audit.Collector != "" && next.Audit.Collector != cur.Audit.Collector {
		out = append(out, "audit.collector changed or removed: sidecars started after it send their records elsewhere, or drop them")
	}
	for _, was := range cur.Detection {
		i := slices.IndexFunc(next.Detection, func(r DetectionSpec) bool { return r.Name == was.Name })
		if i < 0 {
			out = append(out, fmt.Sprintf("detection rule %q removed", was.Name))
		} else if why := looserRule(was, next.Detection[i]); len(why) > 0 {
			out = append(out, fmt.Sprintf("detection rule %q loosened: %s", was.Name, strings.Join(why, ", ")))
		} else if was.Ticket != "" && !sameSink(cur, next, was.Ticket) {
			// The rule kept as it was, its alerts sent to a sink
			// pointed elsewhere: the rule's ticket changed in effect.
			out = append(out, fmt.Sprintf("detection rule %q: ticket sink %q changed, its alerts go elsewhere", was.Name, was.Ticket))
		}
	}
	return out
}

// sameSink reports whether the ticket sink name is the same in cur and
// next, every field.
func sameSink(cur, next *Document, name string) bool {
	i := slices.IndexFunc(cur.Tickets, func(t TicketSpec) bool { return t.Name == name })
	j := slices.IndexFunc(next.Tickets, func(t TicketSpec) bool { return t.Name == name })
	return i >= 0 && j >= 0 && cur.Tickets[i] == next.Tickets[j]
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// looserRule says how the detection rule now catches or does less than
// was. A change it cannot rank (kind, group, baseline, ticket) counts as
// looser, and so does a value that does not parse: the comparison errs
// towards weakening.
func looserRule(was, now DetectionSpec) []string {
	var why []string
	changed := func(name, a, b string) {
		if a != b {
			why = append(why, fmt.Sprintf("%s changed from %q to %q", name, a, b))
		}
	}
	changed("kind", was.Kind, now.Kind)
	changed("group_by", was.DetectionGroup(), now.DetectionGroup())
	changed("baseline", was.Baseline, now.Baseline)
	changed("ticket", was.Ticket, now.Ticket)
	raised := func(name string, a, b int64) {
		if b > a {
			why = append(why, fmt.Sprintf("%s raised from %d to %d", name, a, b))
		}
	}
	raised("threshold", was.Threshold, now.Threshold)
	raised("factor", was.Factor, now.Factor)
	raised("bytes", sizeOr(was.Bytes, 0), sizeOr(now.Bytes, 1<<62))
	raised("lookback", int64(durationOr(was.Lookback, 0)), int64(durationOr(now.Lookback, 1<<62)))
	if w, n := durationOr(was.Window, 1<<62), durationOr(now.Window, 0); n < w {
		why = append(why, fmt.Sprintf("window shortened from %s to %s", was.Window, now.Window))
	}
	if w, n := durationOr(was.Suspend, 1<<62), durationOr(now.Suspend, 0); n < w && was.Action == "suspend" && now.Action == "suspend" {
		why = append(why, fmt.Sprintf("suspend shortened from %s to %s", was.Suspend, now.Suspend))
	}
	if rank(severityRank, now.Severity) < rank(severityRank, was.Severity) {
		why = append(why, fmt.Sprintf("severity lowered from %s to %s", was.Severity, now.Severity))
	}
	if rank(actionRank, now.Action) < rank(actionRank, was.Action) {
		why = append(why, fmt.Sprintf("action lowered from %s to %s", cmpOr(was.Action, "notify"), cmpOr(now.Action, "notify")))
	}
	return why
}

var (
	severityRank = []string{"low", "medium", "high", "critical"}
	actionRank   = []string{"notify", "suspend", "revoke_key"}
)

// rank is s's place in order, "" the first; one not in it ranks lowest.
func rank(order []string, s string) int {
	return slices.Index(order, cmpOr(s, order[0]))
}

// sizeOr is ParseSize of s, or bad for one that does not parse; "" is 0.
func sizeOr(s string, bad int64) int64 {
	if s == "" {
		return 0
	}
	n, err := ParseSize(s)
	if err != nil {
		return bad
	}
	return n
}

// durationOr is parseDuration of s, or bad for one that does not parse.
func durationOr(s string, bad time.Duration) time.Duration {
	d, err := parseDuration(s)
	if err != nil {
		return bad
	}
	return d
}
