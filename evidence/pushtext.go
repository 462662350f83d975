package evidence

import (
	"slices"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// clearPushText returns a copy of h, the policy history, with each push's
// actor, reason and ticket, an operator's free text, cleared as
// clearOperatorText clears an event's (collector.RedactText), for the
// pack to print. A push the etcdadmin library, a CLI from before those
// rules or another writer of etcd made holds them as typed, and the
// authentication standard, the token lifecycle log, the rate limit
// export and the index copied "password hunter2" from an actor as the
// history held it (TestEvidencePackClearsPushAndKeyText). The document
// and its digest are kept: the weakening check hashes the document as
// pushed. The push's policy.push event, when the trail holds it, is
// scanned as stored (tally.scanEvent).
func clearPushText(h []etcdadmin.HistoryEntry) []etcdadmin.HistoryEntry {
	h = slices.Clone(h)
	for i := range h {
		e := &h[i]
		e.Actor, e.Reason, e.Ticket = collector.RedactText(e.Actor), collector.RedactText(e.Reason), collector.RedactText(e.Ticket)
	}
	return h
}

// clearKeyText clears the created_by and ticket of each key of d, the
// policy in force, as clearPushText clears a push's: the authentication
// standard and the token lifecycle log's key rows printed them as the
// document held them.
func clearKeyText(d *policy.Document) {
	for i := range d.Keys {
		k := &d.Keys[i]
		k.CreatedBy, k.Ticket = collector.RedactText(k.CreatedBy), collector.RedactText(k.Ticket)
	}
}
