package alert

import (
	"maps"

	"github.com/portcullis/portcullis/internal/credential"
)

// Alerts carry text from the trail and from outside: request ids (a
// client chooses its own X-Request-Id), the key ids a guesser sent,
// Alertmanager alert names and fingerprints, operators' notes. A client
// that sent its API key or a token as its request id would have it copied
// into a ticket many people read; so every text field of an alert is
// redacted (credential.Redact: API keys, JWTs, Bearer and Basic values,
// and these percent-encoded or in base64) before it leaves for a sink,
// and in the incident report.

// redactAlert returns a copy of a whose every text field has what reads
// as a credential replaced by credential.Redacted. Ids, counts and times
// are kept: an alert's id is a digest, never a credential.
func redactAlert(a *Alert) *Alert {
	c := a.clone()
	for _, p := range []*string{&c.ID, &c.Rule, &c.Kind, &c.Severity, &c.Group, &c.Key, &c.Tenant, &c.Client, &c.KeyID,
		&c.Status, &c.Window, &c.RuleAction, &c.Previous, &c.Note, &c.CorrectiveAction} {
		*p = credential.Redact(*p)
	}
	redactAll(c.RequestIDs)
	redactAll(c.FoldedKeys)
	c.Flags = append([]string(nil), a.Flags...)
	redactAll(c.Flags)
	for i := range c.Tickets {
		c.Tickets[i].Sink, c.Tickets[i].Key = credential.Redact(c.Tickets[i].Sink), credential.Redact(c.Tickets[i].Key)
	}
	for i := range c.History {
		h := &c.History[i]
		h.Action, h.Actor, h.Reason, h.Ticket = credential.Redact(h.Action), credential.Redact(h.Actor), credential.Redact(h.Reason), credential.Redact(h.Ticket)
		if h.Details != nil {
			d := maps.Clone(h.Details) // shared with a's history
			for k, v := range d {
				d[k] = credential.Redact(v)
			}
			h.Details = d
		}
	}
	return &c
}

// Redacted returns a copy of a with what reads as a credential redacted
// in every text field, for a log line or anything else sent out.
func (a *Alert) Redacted() Alert { return *redactAlert(a) }

// redactAll redacts each string of s in place.
func redactAll(s []string) {
	for i := range s {
		s[i] = credential.Redact(s[i])
	}
}

// sinkAlert is a as a sink of kind gets it: the ticket systems get its
// text fields as plain text (plainAlert), the webhook as they are; every
// sink gets them redacted.
func sinkAlert(a *Alert, kind string) *Alert {
	if kind != "webhook" {
		a = plainAlert(a)
	}
	return redactAlert(a)
}
