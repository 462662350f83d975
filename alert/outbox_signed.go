package alert

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"github.com/portcullis/portcullis/internal/durable"
)

// domainOutbox is the signature domain of a queued delivery's file: a
// queued file cannot pass for a detection snapshot, a head or a digest,
// nor they for it.
const domainOutbox = "portcullis-ticket-outbox-v1\n"

// signedQueued is a queued delivery's file: the delivery (queued, as
// JSON) and the outbox key's signature over domainOutbox, the file's
// name and the delivery. The name is signed so a file cannot be renamed
// to another delivery's name, whose state the outbox keeps by name.
type signedQueued struct {
	Payload   json.RawMessage `json:"payload"`
	Signature []byte          `json:"signature"`
}

// signedOutbox is what the signature of the queued file name covers.
func signedOutbox(name string, payload []byte) []byte {
	b := make([]byte, 0, len(domainOutbox)+len(name)+1+len(payload))
	b = append(append(append(b, domainOutbox...), name...), '\n')
	return append(b, payload...)
}

// seal returns the signed file of q, queued as name.
func (o *Outbox) seal(name string, q queued) ([]byte, error) {
	payload, err := json.Marshal(q)
	if err != nil {
		return nil, err
	}
	return json.Marshal(signedQueued{Payload: payload, Signature: ed25519.Sign(o.cfg.Key, signedOutbox(name, payload))})
}

// readQueued reads the queued delivery name, at p, and checks that the
// outbox's key signed it. A file whose signature does not verify (edited,
// or queued before a key rotation) is refused: reported by name, not
// sent, removed, and what the trail lacks is queued again (refuseEdited).
// An unsigned file, which collectors before queued files were signed
// wrote, is read without what it says was sent, refused or tried
// (migrate).
func (o *Outbox) readQueued(name, p string) (queued, error) {
	b, err := durable.ReadRegular(p) // a FIFO planted here is refused, not waited on
	if err != nil {
		return queued{}, fmt.Errorf("cannot read queued delivery %q: %w", p, err)
	}
	var d signedQueued
	if err := json.Unmarshal(b, &d); err != nil {
		return queued{}, fmt.Errorf("queued delivery %q is damaged: %w", p, err)
	}
	if d.Payload == nil && d.Signature == nil {
		return o.migrate(p, b)
	}
	var q queued
	if !ed25519.Verify(o.cfg.Key.Public().(ed25519.PublicKey), signedOutbox(name, d.Payload), d.Signature) || json.Unmarshal(d.Payload, &q) != nil {
		return queued{}, o.refuseEdited(name, p)
	}
	return q, nil
}

// refuseEdited removes the queued file name, at p, whose signature does
// not verify, and has Run queue again (Reconcile, foldDue) what the
// trail lacks: an opening, a closure or a folded alert's update, signed.
// The error names the file, never what it holds.
func (o *Outbox) refuseEdited(name, p string) error {
	if err := o.done(name, p); err != nil {
		return err
	}
	return o.requeue(fmt.Errorf("queued delivery %q is not signed by the collector's key (edited since it was queued, or queued before a key rotation): not sent, removed; what the trail lacks is queued again", p))
}

// migrate reads b, the unsigned queued file at p, without its Sent,
// Refused and Tried, which anyone who can write the data directory could
// have set: a delivery the sink took before the upgrade whose record in
// the trail failed is sent again, with the same X-Portcullis-Delivery id
// (a Jira sink's create is not searched for first). It writes the file
// again signed, so it is reported once; its alert and tickets are checked
// against the engine's as any file's are (checkPlanted).
func (o *Outbox) migrate(p string, b []byte) (queued, error) {
	var q queued
	if err := json.Unmarshal(b, &q); err != nil {
		return queued{}, fmt.Errorf("queued delivery %q is damaged: %w", p, err)
	}
	q.Sent, q.Refused, q.Tried = "", "", false
	why := fmt.Errorf("queued delivery %q is not signed (queued by a collector before queued deliveries were signed, or put there by hand): what it says was sent, refused or tried is not believed; signed again", p)
	if err := o.writeQueued(q, p); err != nil {
		why = fmt.Errorf("queued delivery %q is not signed (queued by a collector before queued deliveries were signed, or put there by hand): what it says was sent, refused or tried is not believed; not signed again: %w", p, err)
	}
	o.fail(why)
	return q, nil
}
