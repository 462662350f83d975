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
// or queued before a key rotation), or that carries none (queued by a
// collector before queued files were signed, or planted), is refused:
// reported by name, not sent, removed, and what the trail lacks is queued
// again, signed (refuseEdited).
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
		return queued{}, o.refuseUnsigned(name, p)
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

// refuseUnsigned removes the unsigned queued file name, at p, and has Run
// queue again what the trail lacks, as refuseEdited does. Such a file was
// read and signed again, its alert and sink believed: a file planted
// unsigned opened a real alert's ticket at another sink of the policy,
// under that sink's credential (TestOutboxPlantedFileForAnotherSinkIsRefused).
// A file the release before queued costs as much: what the trail lacks is
// queued again, and a delivery the sink took whose record in the trail
// failed is sent again with the same X-Portcullis-Delivery id (a Jira
// sink's create is not searched for first).
func (o *Outbox) refuseUnsigned(name, p string) error {
	if err := o.done(name, p); err != nil {
		return err
	}
	return o.requeue(fmt.Errorf("queued delivery %q is not signed (queued by a collector before queued deliveries were signed, or put there by hand): not sent, removed; what the trail lacks is queued again", p))
}
