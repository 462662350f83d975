package evidence

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/credential"
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

// historyScan is the credential scan of the policy's operator text: each
// push's actor, reason and ticket, and the created_by and ticket of the
// keys of the policy in force, read as etcd holds them, before the pack
// clears them for print (clearPushText, clearKeyText). A push written by
// hand has no policy.push event for scanEvent to read, and, printed
// cleared, the scan of the pack's files no longer met a credential its
// actor held: the scan said PASS (TestEvidencePackClearsPushAndKeyText).
// A hit names the push (time, revision) or the key, never the text.
type historyScan struct {
	scanned, hits int
	lines         bytes.Buffer
}

// scanPolicyText scans h, the keys of d, the policy in force pushed by
// at, and the keys of each other document in force at some time of p,
// before any is cleared. A document before the policy in force held its
// keys' created_by and ticket in etcd as typed too, and was not scanned
// (TestScanPolicyTextReadsEarlierDocuments). Bounded as knownNames is:
// the documents of the period's pushes, each loaded once (by digest), a
// key record carried unchanged from one to the next scanned once.
func scanPolicyText(h []etcdadmin.HistoryEntry, at etcdadmin.HistoryEntry, d *policy.Document, p Period) *historyScan {
	s := &historyScan{}
	for i := range h {
		e := &h[i]
		s.scan(e.Time, e.Revision, "policy push", e.Actor, e.Reason, e.Ticket)
	}
	keys := map[[3]string]bool{}
	s.scanKeys(at, d, " of the policy in force", keys)
	docs := map[string]bool{at.Digest: true}
	for _, sp := range historySpans(h, p) {
		e := sp.entry
		if docs[e.Digest] {
			continue
		}
		docs[e.Digest] = true
		if doc, err := loadDoc(e); err == nil {
			s.scanKeys(e, doc, " of a policy in force earlier in the period", keys)
		}
	}
	return s
}

// scanKeys scans the created_by and ticket of each key of d, pushed by
// at, whose record seen does not hold yet, named by the key's id and of.
func (s *historyScan) scanKeys(at etcdadmin.HistoryEntry, d *policy.Document, of string, seen map[[3]string]bool) {
	for i := range d.Keys {
		k := &d.Keys[i]
		if r := [3]string{k.ID, k.CreatedBy, k.Ticket}; !seen[r] {
			seen[r] = true
			s.scan(at.Time, at.Revision, "key "+k.ID+of, k.CreatedBy, k.Ticket)
		}
	}
}

// scan checks texts, an operator's free text, for a credential's shape,
// one hidden under an encoding, and else for what the CLI clears
// (clearedByCLI), as scanEvent checks an event's.
func (s *historyScan) scan(at time.Time, rev int64, what string, texts ...string) {
	s.scanned++
	before := s.hits
	for _, p := range credential.Patterns {
		if matchAny(p.RE, texts) {
			s.hit(at, rev, what, p.Name)
		}
	}
	if slices.ContainsFunc(texts, credential.HidesEncoded) {
		s.hit(at, rev, what, credential.EncodedName)
	}
	if s.hits == before && slices.ContainsFunc(texts, clearedByCLI) {
		s.hit(at, rev, what, proseSecretName)
	}
}

// hit counts a credential of the kind name found in what, and lists the
// first maxScanLines.
func (s *historyScan) hit(at time.Time, rev int64, what, name string) {
	s.hits++
	if s.hits <= maxScanLines {
		fmt.Fprintf(&s.lines, "| %s | %d | %s | %s |\n", at.UTC().Format(time.RFC3339), rev, mdCell(redact(what)), name)
	}
}
