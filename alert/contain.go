package alert

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Actions are the control-plane writes containment needs. The collector
// and the CLI wire them to etcd (etcdadmin.Admin), so that a suspension or
// revocation reaches every sidecar through the watch, and every write is
// a lifecycle event whose reason names the alert.
type Actions struct {
	// Suspend suspends client for d (the leased suspension).
	Suspend func(ctx context.Context, client string, d time.Duration, reason, ticket string) error
	// Revoke revokes the API key keyID.
	Revoke func(ctx context.Context, keyID, reason, ticket string) error
	// Record writes the alert.contain lifecycle event of alertID.
	Record func(ctx context.Context, alertID, reason, ticket string, details map[string]string) error
}

// ErrNothingToContain is returned by Contain for an alert whose rule
// action is notify, or that names no client or key to act on.
var ErrNothingToContain = errors.New("alert: nothing to contain")

// Reason is the reason every containment write of alert a carries, so
// the trail links the alert to the action.
func Reason(a *Alert) string {
	return fmt.Sprintf("alert %s: rule %s fired for %s %s", a.ID, a.Rule, a.Group, a.Key)
}

// ticketOf is the change ticket of a containment: the alert's first
// ticket key, else the alert id.
func ticketOf(a *Alert) string {
	if len(a.Tickets) > 0 {
		return a.Tickets[0].Key
	}
	return a.ID
}

// Contain carries out the rule action of a (suspend the client for
// suspend, or revoke the key the matching records used), then records
// alert.contain. It is what the collector runs for a rule with an action.
func Contain(ctx context.Context, acts Actions, a *Alert, suspend time.Duration) error {
	reason, ticket := Reason(a), ticketOf(a)
	var d map[string]string
	if a.Group != "client" {
		// Grouped by source or tenant, the alert's client and key id are
		// those of the record that crossed the threshold: for a source,
		// whatever key id a guesser sent. Only the alert's own client is
		// contained (the policy refuses such actions; an alert opened
		// under an older policy may still carry one).
		return fmt.Errorf("%w: alert %s is about %s %q, not a client: contain by hand (incident contain)", ErrNothingToContain, a.ID, a.Group, a.Key)
	}
	switch {
	case a.RuleAction == "suspend" && a.Client != "" && suspend > 0:
		if err := acts.Suspend(ctx, a.Client, suspend, reason, ticket); err != nil {
			return fmt.Errorf("cannot suspend %q for alert %s: %w", a.Client, a.ID, err)
		}
		d = map[string]string{"action": "suspend", "client": a.Client, "for": suspend.String()}
	case a.RuleAction == "revoke_key" && a.KeyID != "":
		if err := acts.Revoke(ctx, a.KeyID, reason, ticket); err != nil {
			return fmt.Errorf("cannot revoke key %q for alert %s: %w", a.KeyID, a.ID, err)
		}
		d = map[string]string{"action": "revoke_key", "key_id": a.KeyID}
	default:
		return fmt.Errorf("%w: alert %s has action %q for client %q key %q", ErrNothingToContain, a.ID, a.RuleAction, a.Client, a.KeyID)
	}
	// The senders that delivered the records which fired the alert: the
	// trail of a containment names the tokens or certificates whose
	// claims it acted on.
	d["senders"] = a.sendersDetail()
	return acts.Record(ctx, a.ID, reason, ticket, d)
}

// SuspendFor returns the suspension duration of rule, 0 if it has none.
func (e *Engine) SuspendFor(rule string) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.rules {
		if r.Name == rule {
			return r.Suspend
		}
	}
	return 0
}

// Uncontained returns the alerts not closed whose rule has an action and
// whose history holds no containment: those a crash left uncontained.
func (e *Engine) Uncontained() []Alert {
	var out []Alert
	for _, a := range e.Alerts() {
		if a.Status == StatusClosed || a.RuleAction == "" || a.RuleAction == "notify" || contained(&a) {
			continue
		}
		out = append(out, a)
	}
	return out
}

func contained(a *Alert) bool {
	for _, c := range a.History {
		if c.Action == ActionContain {
			return true
		}
	}
	return false
}
