package alert

import (
	"maps"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/credential"
)

// Alerts carry text from the trail and from outside: request ids (a
// client chooses its own X-Request-Id), the key ids a guesser sent,
// Alertmanager alert names, labels and fingerprints, operators' reasons
// and notes. A client that sent its API key or a token as its request id
// would have it copied into a ticket many people read, and so would an
// operator who wrote "password: correct horse" in a closure's note; so
// every text field of an alert is redacted with the rules the collector
// applies to the foreign text it stores (collector.RedactText: API keys,
// JWTs, Bearer and Basic values, and these encoded; a pair whose name
// names a credential, "api_key=abc123"; a secret after such a name in
// prose, "password hunter2") before it leaves for a sink, and in the
// incident report. Operators' reasons and Alertmanager's labels never
// pass through the store's intake, and credential.Redact alone, which
// finds credentials by their shape, let the others reach the wire
// (TestSinksRedactSecretsInProse).

// redactAlert returns a copy of a whose every text field has what reads
// as a credential replaced by collector.Redacted (redact). Ids, counts and times
// are kept: an alert's id is a digest, never a credential.
func redactAlert(a *Alert) *Alert {
	c := a.clone()
	for _, p := range []*string{&c.ID, &c.Rule, &c.Kind, &c.Severity, &c.Group, &c.Key, &c.Tenant, &c.Client, &c.KeyID,
		&c.Status, &c.Window, &c.RuleAction, &c.Previous, &c.Note, &c.CorrectiveAction} {
		*p = redact(*p)
	}
	redactAll(c.RequestIDs)
	redactAll(c.FoldedKeys)
	c.Flags = append([]string(nil), a.Flags...)
	redactAll(c.Flags)
	for i := range c.Tickets {
		c.Tickets[i].Sink, c.Tickets[i].Key = redact(c.Tickets[i].Sink), redact(c.Tickets[i].Key)
	}
	for i := range c.History {
		h := &c.History[i]
		h.Action, h.Actor, h.Reason, h.Ticket = redact(h.Action), redact(h.Actor), redact(h.Reason), redact(h.Ticket)
		if h.Details != nil {
			d := maps.Clone(h.Details) // shared with a's history
			for k, v := range d {
				if k == "senders" {
					// The collector's names of whom it authenticated
					// ("token:fleet"), no free text: the pair rules
					// would read a token's value in them.
					d[k] = credential.Redact(v)
					continue
				}
				d[k] = redact(v)
			}
			h.Details = d
		}
	}
	return &c
}

// Redacted returns a copy of a with what reads as a credential redacted
// in every text field, for a log line or anything else sent out.
func (a *Alert) Redacted() Alert { return *redactAlert(a) }

// redact is collector.RedactText: the collector's redaction of free text.
func redact(s string) string { return collector.RedactText(s) }

// redactAll redacts each string of s in place.
func redactAll(s []string) {
	for i := range s {
		s[i] = redact(s[i])
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
