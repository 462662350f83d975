package alert

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// Alert states, in lifecycle order.
const (
	StatusOpen         = "open"
	StatusTicketed     = "ticketed"
	StatusAcknowledged = "acknowledged"
	StatusContained    = "contained"
	StatusClosed       = "closed"
)

// Lifecycle event actions. The collector writes open and update, the
// ticket sinks ticket, people (through etcd) ack and close, containment
// contain.
const (
	ActionOpen    = "alert.open"
	ActionUpdate  = "alert.update"
	ActionTicket  = "alert.ticket"
	ActionAck     = "alert.ack"
	ActionContain = "alert.contain"
	ActionClose   = "alert.close"
	// ActionTicketUpdate records that a closure reached the ticket.
	ActionTicketUpdate = "alert.ticket_update"
	// ActionTicketCloseRefused records that the sink refused the closure
	// for good (a 4xx other than 408 and 429: the ticket deleted, its key
	// bad), or that the key cannot be sent; it is not tried again.
	ActionTicketCloseRefused = "alert.ticket_close_refused"
)

var statusOrder = map[string]int{StatusOpen: 0, StatusTicketed: 1, StatusAcknowledged: 2, StatusContained: 3, StatusClosed: 4}

// IsStatus reports whether s is an alert state.
func IsStatus(s string) bool {
	_, ok := statusOrder[s]
	return ok
}

// maxRequestIDs is how many request ids of the matching records an alert
// keeps as evidence.
const maxRequestIDs = 20

// Alert is one detection and what was done about it. A sustained attack is
// one alert whose Count grows; a re-fire after closure is a new alert
// naming the closed one in Previous.
type Alert struct {
	ID         string    `json:"id"`
	Rule       string    `json:"rule"`
	Kind       string    `json:"kind"`
	Severity   string    `json:"severity"`
	Group      string    `json:"group"` // client, source or tenant
	Key        string    `json:"key"`   // the value of the group
	Tenant     string    `json:"tenant,omitempty"`
	Client     string    `json:"client,omitempty"`
	KeyID      string    `json:"key_id,omitempty"`
	Status     string    `json:"status"`
	Opened     time.Time `json:"opened"`
	LastSeen   time.Time `json:"last_seen"`
	Count      int64     `json:"count"`
	Window     string    `json:"window"`
	RuleAction string    `json:"rule_action"`
	Previous   string    `json:"previous,omitempty"`
	RequestIDs []string  `json:"request_ids,omitempty"`
	// Senders are the senders (collector.StoredRecord.Sender) that
	// delivered the records counted into the alert, sorted, at most
	// maxSenders: the fields of a record are its sender's claim.
	Senders []string `json:"senders,omitempty"`
	Tickets []Ticket `json:"tickets,omitempty"`
	History []Change `json:"history"`
	// Note and CorrectiveAction are the closure's.
	Note             string `json:"note,omitempty"`
	CorrectiveAction string `json:"corrective_action,omitempty"`
	// Flags holds collector.FlagUnverified for an alert LoadVerified
	// rebuilt without a key (the engine never sets it).
	Flags []string `json:"flags,omitempty"`
	// Folded counts the groups folded into this alert, and FoldedKeys
	// names the first of them: a rule whose groups an outsider makes up
	// had too many alerts open (fold.go). Zero for any other alert.
	Folded     int64    `json:"folded,omitempty"`
	FoldedKeys []string `json:"folded_keys,omitempty"`
	// updated is when the engine last wrote a folded alert's alert.update.
	updated time.Time
}

// Ticket is where a sink filed the alert.
type Ticket struct {
	Sink string `json:"sink"`
	Key  string `json:"key"`
}

// Change is one lifecycle event of an alert.
type Change struct {
	Time    time.Time         `json:"time"`
	Action  string            `json:"action"`
	Actor   string            `json:"actor,omitempty"`
	Reason  string            `json:"reason,omitempty"`
	Ticket  string            `json:"ticket,omitempty"`
	Details map[string]string `json:"details,omitempty"`
}

// IsAlertEvent reports whether ev is an alert lifecycle event.
func IsAlertEvent(ev *collector.Event) bool { return strings.HasPrefix(ev.Action, "alert.") }

// details decodes an event's details, which etcd-borne events carry as a
// JSON object of strings.
func details(ev *collector.Event) map[string]string {
	if len(ev.Details) == 0 {
		return nil
	}
	var m map[string]string
	if json.Unmarshal(ev.Details, &m) != nil {
		return nil
	}
	return m
}

// encodeDetails encodes m as an event's details.
func encodeDetails(m map[string]string) json.RawMessage {
	b, _ := json.Marshal(m) // a map of strings always encodes
	return b
}

// openDetails are the details of an alert.open event.
func (a *Alert) openDetails() map[string]string {
	return map[string]string{
		"rule": a.Rule, "kind": a.Kind, "severity": a.Severity, "group": a.Group, "key": a.Key,
		"tenant": a.Tenant, "client": a.Client, "key_id": a.KeyID, "count": strconv.FormatInt(a.Count, 10),
		"window": a.Window, "rule_action": a.RuleAction, "previous": a.Previous,
		"first_seen": a.Opened.UTC().Format(time.RFC3339Nano), "request_ids": strings.Join(a.RequestIDs, ","),
		"senders": a.sendersDetail(),
	}
}

// alertFromOpen builds an alert from its alert.open event.
func alertFromOpen(ev *collector.Event, d map[string]string) *Alert {
	a := &Alert{ID: ev.Target, Rule: d["rule"], Kind: d["kind"], Severity: d["severity"], Group: d["group"], Key: d["key"],
		Tenant: d["tenant"], Client: d["client"], KeyID: d["key_id"], Status: StatusOpen, Window: d["window"],
		RuleAction: d["rule_action"], Previous: d["previous"]}
	a.Opened, _ = time.Parse(time.RFC3339Nano, d["first_seen"])
	if a.Opened.IsZero() {
		a.Opened = ev.Time
	}
	a.LastSeen = a.Opened
	a.Count, _ = strconv.ParseInt(d["count"], 10, 64)
	if ids := d["request_ids"]; ids != "" {
		a.RequestIDs = strings.Split(ids, ",")
	}
	a.Senders = parseSenders(d["senders"])
	if n, err := strconv.ParseInt(d["folded"], 10, 64); err == nil && n > 0 {
		a.Folded, a.FoldedKeys = n, parseFoldedKeys(d["folded_keys"])
	}
	return a
}

// apply updates a from one of its lifecycle events other than open.
func (a *Alert) apply(ev *collector.Event, d map[string]string) {
	switch ev.Action {
	case ActionUpdate:
		if n, err := strconv.ParseInt(d["count"], 10, 64); err == nil && n > a.Count {
			a.Count = n
		}
		if t, err := time.Parse(time.RFC3339Nano, d["last_seen"]); err == nil && t.After(a.LastSeen) {
			a.LastSeen = t
		}
		if n, err := strconv.ParseInt(d["folded"], 10, 64); err == nil && a.Folded > 0 && n > a.Folded {
			a.Folded = n
			if keys := parseFoldedKeys(d["folded_keys"]); len(keys) > len(a.FoldedKeys) {
				a.FoldedKeys = keys
			}
		}
		return // an update is no state change worth a line of history
	case ActionTicket:
		if a.hasTicket(d["sink"], d["ticket"]) {
			return // recorded again after a store that failed (Outbox.record)
		}
		if etcdadmin.Blank(d["ticket"]) {
			// A key without a visible character (recorded before the
			// outbox refused one) names no ticket: the alert is not
			// ticketed, and the pack does not count it.
			break
		}
		a.Tickets = append(a.Tickets, Ticket{Sink: d["sink"], Key: d["ticket"]})
		a.advance(StatusTicketed)
	case ActionTicketUpdate:
		if d["update"] == updateFolded {
			// A folded alert's growth told (foldticket.go). Borne by etcd
			// it holds no count (withoutFold) and counts for nothing.
			if n, err := strconv.ParseInt(d["folded"], 10, 64); err != nil || n <= 0 || a.Folded == 0 || a.toldFolded(d["sink"], d["ticket"], n) {
				return
			}
			break
		}
		if ticketClosed(a, d["sink"], d["ticket"]) {
			return // recorded again after a store that failed (Outbox.record)
		}
	case ActionTicketCloseRefused:
		if closureSettled(a, d["sink"], d["ticket"]) {
			return // recorded again after a store that failed (Outbox.refuse)
		}
	case ActionAck:
		a.advance(StatusAcknowledged)
	case ActionContain:
		a.advance(StatusContained)
	case ActionClose:
		a.Note, a.CorrectiveAction = ev.Reason, d["corrective_action"]
		a.advance(StatusClosed)
	}
	a.History = append(a.History, Change{Time: ev.Time, Action: ev.Action, Actor: ev.Actor, Reason: ev.Reason, Ticket: ev.Ticket, Details: d})
}

// toldFolded reports whether a's history holds the update telling ticket
// key of sink that a folds n groups (recorded again after a store that
// failed, Outbox.record); another ticket of the sink told the same is
// another update.
func (a *Alert) toldFolded(sink, key string, n int64) bool {
	for _, c := range a.History {
		if c.Action == ActionTicketUpdate && c.Details["sink"] == sink && c.Details["ticket"] == key && c.Details["update"] == updateFolded &&
			c.Details["folded"] == strconv.FormatInt(n, 10) {
			return true
		}
	}
	return false
}

// hasTicket reports whether a holds the ticket key of sink.
func (a *Alert) hasTicket(sink, key string) bool {
	for _, t := range a.Tickets {
		if t.Sink == sink && t.Key == key {
			return true
		}
	}
	return false
}

// advance moves the status forward (never back: a late ticket does not
// reopen an acknowledged alert).
func (a *Alert) advance(s string) {
	if statusOrder[s] > statusOrder[a.Status] {
		a.Status = s
	}
}

// clone returns a deep copy of a.
func (a *Alert) clone() Alert {
	c := *a
	c.RequestIDs = append([]string(nil), a.RequestIDs...)
	c.Senders = append([]string(nil), a.Senders...)
	c.Tickets = append([]Ticket(nil), a.Tickets...)
	c.History = append([]Change(nil), a.History...)
	c.FoldedKeys = append([]string(nil), a.FoldedKeys...)
	return c
}
