package alert

import (
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// KindKeyRotation is the rule kind that warns before an API key reaches
// the policy's lifecycle.max_key_age (issue 20): one alert per key, when
// it is within lifecycle.rotation_warning of the age and was neither
// rotated nor revoked. The sidecars refuse the key at the age; the alert
// comes first, so that the owner can rotate it.
const KindKeyRotation = "key_rotation"

// rotation is what the key_rotation rules know: when each key was made
// (the policy's keys, and key.create and key.rotate events), which keys
// need no warning any more, and the earliest warning still to fire.
type rotation struct {
	maxAge, warning time.Duration
	born            map[string]bornKey // key id -> its client and creation
	done            map[string]bool    // key ids warned, rotated or revoked
	next            time.Time          // earliest warning to fire; zero: look again
	doc             *policy.Document   // the policy its keys came from, for a reset
}

// bornKey is one key's client and creation time.
type bornKey struct {
	client string
	at     time.Time
}

// rotationPolicyLocked takes the lifecycle ages and the keys of d.
func (e *Engine) rotationPolicyLocked(d *policy.Document) {
	r := &e.rot
	if r.born == nil {
		r.born, r.done = map[string]bornKey{}, map[string]bool{}
	}
	r.maxAge, r.warning, r.next, r.doc = 0, 0, time.Time{}, d
	if d == nil {
		return
	}
	r.maxAge, r.warning = d.Lifecycle.Ages()
	for i := range d.Keys {
		k := &d.Keys[i]
		if at := k.Born(); !at.IsZero() {
			r.born[k.ID] = bornKey{client: k.Client, at: at}
		}
		if k.Revoked {
			r.done[k.ID] = true
		}
	}
}

// rotationEventLocked learns key births and ends from lifecycle events: a
// rotated key has its rotation evidence and needs no warning, and a key
// whose warning is in the trail (alert.open) is not warned again, even
// after its alert was closed and the collector restarted.
func (e *Engine) rotationEventLocked(ev *collector.Event, d map[string]string) {
	r := &e.rot
	if r.born == nil {
		return
	}
	switch ev.Action {
	case "key.create":
		r.born[ev.Target] = bornKey{client: d["client"], at: ev.Time}
	case "key.rotate":
		r.done[ev.Target] = true
		if id := d["new_key"]; id != "" {
			r.born[id] = bornKey{client: d["client"], at: ev.Time}
		}
	case "key.revoke":
		r.done[ev.Target] = true
	case ActionOpen:
		if d["kind"] != KindKeyRotation {
			return
		}
		r.done[d["key"]] = true // warned: a replay must not warn again
	default:
		return
	}
	r.next = time.Time{}
}

// rotationObserveLocked checks the warnings at the time of the last
// record or event of a stored batch: the engine's clock is their time, a
// record's no later than when the collector stored it (countedAt), as
// detection counts it. Without a rotation warning it costs one comparison.
func (e *Engine) rotationObserveLocked(records []collector.StoredRecord, events []collector.Event, out []collector.Event) []collector.Event {
	if e.rot.warning <= 0 {
		return out
	}
	var now time.Time
	for i := len(records) - 1; i >= 0; i-- { // a flagged record's time is no clock
		if !skewedRecord(&records[i]) {
			now = countedAt(&records[i])
			break
		}
	}
	if n := len(events); n > 0 && events[n-1].Time.After(now) {
		now = events[n-1].Time
	}
	if now.IsZero() {
		return out
	}
	return e.rotationDueLocked(now, out)
}

// Tick fires the key_rotation warnings due at now. The collector calls it
// on a timer, so that a key nobody uses is warned about too; tests call it
// with a simulated clock.
func (e *Engine) Tick(now time.Time) {
	e.mu.Lock()
	out := e.rotationDueLocked(now, nil)
	e.mu.Unlock()
	e.flush(out)
}

// rotationDueLocked fires the warning of every key within the rotation
// warning of max_key_age at now. It costs one comparison until the
// earliest warning is due. Replay fires nothing: the trail holds what
// fired.
func (e *Engine) rotationDueLocked(now time.Time, out []collector.Event) []collector.Event {
	r := &e.rot
	if e.replaying || r.warning <= 0 || now.Before(r.next) || !e.hasRuleLocked(KindKeyRotation) {
		return out
	}
	next := time.Unix(1<<62, 0)
	for id, b := range r.born {
		if r.done[id] {
			continue
		}
		due := b.at.Add(r.maxAge - r.warning)
		if now.Before(due) {
			if due.Before(next) {
				next = due
			}
			continue
		}
		r.done[id] = true
		out = e.warnLocked(id, b, now, out)
	}
	r.next = next
	return out
}

// warnLocked fires the key_rotation rules for key id.
func (e *Engine) warnLocked(id string, b bornKey, now time.Time, out []collector.Event) []collector.Event {
	s := subject{tenant: e.idx.clientTenant[b.client], client: b.client, keyID: id}
	for _, rule := range e.rules {
		if rule.Kind == KindKeyRotation {
			out = e.fireLocked(rule, id, s, now, 1, nil, out)
		}
	}
	return out
}

// hasRuleLocked reports whether a rule of kind is in force.
func (e *Engine) hasRuleLocked(kind string) bool {
	for _, r := range e.rules {
		if r.Kind == kind {
			return true
		}
	}
	return false
}

// stateRotation is what the key_rotation rules learnt, in a snapshot: the
// keys' births (key.create and key.rotate events are not replayed after
// a restart from the snapshot) and the keys warned, rotated or revoked.
type stateRotation struct {
	Born map[string]stateBorn `json:"born"`
	Done []string             `json:"done"`
}

// stateBorn is one key's client and creation.
type stateBorn struct {
	Client string    `json:"client"`
	At     time.Time `json:"at"`
}

// rotationStateLocked returns the rotation state for a snapshot.
func (e *Engine) rotationStateLocked() stateRotation {
	st := stateRotation{Born: make(map[string]stateBorn, len(e.rot.born)), Done: sortedTrue(e.rot.done)}
	for id, b := range e.rot.born {
		st.Born[id] = stateBorn{Client: b.client, At: b.at}
	}
	return st
}

// restoreRotationLocked adds a snapshot's rotation state to what the
// policy's keys say.
func (e *Engine) restoreRotationLocked(st *stateRotation) {
	r := &e.rot
	for id, b := range st.Born {
		r.born[id] = bornKey{client: b.Client, at: b.At}
	}
	for _, id := range st.Done {
		r.done[id] = true
	}
	r.next = time.Time{}
}

// resetRotationLocked forgets what events taught the rotation rules:
// only the policy's keys are left.
func (e *Engine) resetRotationLocked() {
	doc := e.rot.doc
	e.rot = rotation{}
	e.rotationPolicyLocked(doc)
}
