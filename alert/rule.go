package alert

import (
	"fmt"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// Rule is a detection rule of the policy, with its durations parsed.
type Rule struct {
	Name      string
	Kind      string
	Group     string // client, source or tenant
	Threshold int64  // count, or bytes for egress_spike
	Factor    int64
	Window    time.Duration
	Baseline  time.Duration
	Lookback  time.Duration
	Severity  string
	Action    string // notify, suspend or revoke_key
	Suspend   time.Duration
	Ticket    string

	// lastKey and lastGroup are the group the rule counted last (the
	// engine's, guarded by its lock); dropped with the groups.
	lastKey   string
	lastGroup *group
}

// Rule kinds (policy.DetectionSpec).
const (
	KindAuthFailures    = "auth_failures"
	KindRateLimitSpike  = "rate_limit_spike"
	KindBulkSpike       = "bulk_spike"
	KindEgressSpike     = "egress_spike"
	KindPrivilegedGrant = "privileged_grant"
	KindNewNetwork      = "new_network"
	KindDeadCredential  = "dead_credential"
	KindTenantProbe     = "tenant_probe"
)

// compileRules parses the rules of a validated document.
func compileRules(specs []policy.DetectionSpec) ([]*Rule, error) {
	out := make([]*Rule, 0, len(specs))
	for i := range specs {
		r, err := compileRule(&specs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func compileRule(s *policy.DetectionSpec) (*Rule, error) {
	r := &Rule{Name: s.Name, Kind: s.Kind, Group: s.DetectionGroup(), Threshold: s.Threshold, Factor: s.Factor,
		Severity: s.Severity, Action: s.Action, Ticket: s.Ticket}
	if r.Action == "" {
		r.Action = "notify"
	}
	var err error
	for _, d := range []struct {
		dst *time.Duration
		s   string
	}{{&r.Window, s.Window}, {&r.Baseline, s.Baseline}, {&r.Lookback, s.Lookback}, {&r.Suspend, s.Suspend}} {
		if d.s == "" {
			continue
		}
		if *d.dst, err = time.ParseDuration(d.s); err != nil {
			return nil, fmt.Errorf("detection rule %q: cannot parse duration %q: %w", s.Name, d.s, err)
		}
	}
	if s.Bytes != "" {
		if r.Threshold, err = policy.ParseSize(s.Bytes); err != nil {
			return nil, fmt.Errorf("detection rule %q: bytes: %w", s.Name, err)
		}
	}
	if r.Window <= 0 {
		r.Window = time.Minute // rules without a window group re-fires per minute
	}
	return r, nil
}

// span is how far back the rule's windows must reach.
func (r *Rule) span() time.Duration { return r.Window + r.Baseline }

// contains reports whether the rule's alerts suspend or revoke: such a
// rule counts only records whose client the sidecar verified (verified).
func (r *Rule) contains() bool { return r.Action == "suspend" || r.Action == "revoke_key" }

// spiking reports whether cur, counted over the window, is at least the
// floor and, when the rule has a factor, at least factor times the
// baseline's average per window (base counted over r.Baseline before it).
func (r *Rule) spiking(cur, base int64) bool {
	if cur < r.Threshold {
		return false
	}
	if r.Factor == 0 || r.Baseline <= 0 {
		return true
	}
	perWindow := float64(base) * float64(r.Window) / float64(r.Baseline)
	return float64(cur) >= float64(r.Factor)*perWindow
}
