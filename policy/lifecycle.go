package policy

import "time"

// LifecycleSpec is the credential lifecycle policy (issue 20): how old an
// API key may get, how long before that the rotation warning fires,
// whether lifecycle changes need a change ticket, and whether a key for a
// client that holds privileged scopes needs a granted approval.
//
// MaxKeyAge counts from a key's created_at (else its not_before): a key
// older than it is refused with 401 key_expired_by_policy, whatever its
// not_after. RotationWarning is how long before MaxKeyAge the detection
// rules of kind key_rotation fire and the sidecar counts the key in
// portcullis_keys_rotation_due; it needs MaxKeyAge and is shorter than it.
type LifecycleSpec struct {
	MaxKeyAge             string `yaml:"max_key_age,omitempty" json:"max_key_age,omitempty"`
	RotationWarning       string `yaml:"rotation_warning,omitempty" json:"rotation_warning,omitempty"`
	RequireTicket         bool   `yaml:"require_ticket,omitempty" json:"require_ticket,omitempty"`
	PrivilegedKeyApproval bool   `yaml:"privileged_key_approval,omitempty" json:"privileged_key_approval,omitempty"`
}

// Ages returns the parsed MaxKeyAge and RotationWarning (0: unset). The
// zero or nil LifecycleSpec bounds nothing.
func (l *LifecycleSpec) Ages() (maxAge, warning time.Duration) {
	if l == nil {
		return 0, 0
	}
	maxAge, _ = parseDuration(l.MaxKeyAge)
	warning, _ = parseDuration(l.RotationWarning)
	return maxAge, warning
}

// TicketRequired reports whether lifecycle changes need a change ticket.
func (l *LifecycleSpec) TicketRequired() bool { return l != nil && l.RequireTicket }

// Born returns when the key's age starts: the earlier of its created_at
// and its not_before, the one it has, or the zero time when the record
// says neither. A key is usable from its not_before: a created_at later
// than that (or in the future), written by hand, once gave it an age that
// did not reach max_key_age (an outside review).
func (k *KeySpec) Born() time.Time {
	created, err := parseTime(k.CreatedAt)
	if err != nil {
		created = time.Time{}
	}
	nb, _ := parseTime(k.NotBefore)
	switch {
	case created.IsZero():
		return nb
	case nb.IsZero() || created.Before(nb):
		return created
	}
	return nb
}

// CreatedSkew is how far a key's created_at may lie ahead of a sidecar's
// clock while the key is already used: clocks differ. A key is not valid
// before its created_at less this (compileKey), so a created_at in the
// future cannot make a key usable with an age that has not started.
const CreatedSkew = 5 * time.Minute

// KeyExpiry returns when key k stops being valid and what ends it:
// "max_key_age" when the lifecycle policy's age comes first, "not_after"
// when its own expiry does, "" (and the zero time) when neither bounds it.
// A key of unknown age under a max_key_age is expired since the epoch:
// unknown is refused.
func (l *LifecycleSpec) KeyExpiry(k *KeySpec) (time.Time, string) {
	na, _ := parseTime(k.NotAfter)
	maxAge, _ := l.Ages()
	if maxAge == 0 {
		if na.IsZero() {
			return time.Time{}, ""
		}
		return na, "not_after"
	}
	aged := time.Unix(0, 0).UTC()
	if born := k.Born(); !born.IsZero() {
		aged = born.Add(maxAge)
	}
	if !na.IsZero() && na.Before(aged) {
		return na, "not_after"
	}
	return aged, "max_key_age"
}

// lifecycle checks the lifecycle section and that every key of the
// document has an age when max_key_age is set.
func (v *validator) lifecycle(l *LifecycleSpec, keys []KeySpec) {
	if l == nil {
		return
	}
	at := func(f string) int { return v.lines.field("lifecycle", f) }
	maxAge, err := parseDuration(l.MaxKeyAge)
	if err != nil {
		v.addf(at("max_key_age"), "lifecycle: max_key_age: %v", err)
	}
	warning, err := parseDuration(l.RotationWarning)
	if err != nil {
		v.addf(at("rotation_warning"), "lifecycle: rotation_warning: %v", err)
	}
	switch {
	case l.RotationWarning != "" && maxAge == 0:
		v.addf(at("rotation_warning"), "lifecycle: rotation_warning needs max_key_age (the age it warns before)")
	case maxAge > 0 && warning >= maxAge:
		v.addf(at("rotation_warning"), "lifecycle: rotation_warning %s must be shorter than max_key_age %s", l.RotationWarning, l.MaxKeyAge)
	}
	if maxAge == 0 {
		return
	}
	for i := range keys {
		if keys[i].Born().IsZero() {
			v.addf(v.lines.at("keys", i, "", -1), "key %q: lifecycle.max_key_age needs its age: give created_at (or not_before)", keys[i].ID)
		}
	}
}

// checkRotationRules refuses key_rotation rules without a rotation_warning
// to fire on.
func (v *validator) checkRotationRules(l *LifecycleSpec, rs []DetectionSpec) {
	if _, warning := l.Ages(); warning > 0 {
		return
	}
	for i := range rs {
		if rs[i].Kind == "key_rotation" {
			v.addf(v.lines.at("detection", i, "kind", -1), "detection rule %q: kind key_rotation needs lifecycle.rotation_warning (and max_key_age)", rs[i].Name)
		}
	}
}

// lifecycle sets the key ages of the snapshot: every key gets the unix
// nanoseconds at which it reaches max_key_age (Key.AgeLimit), so that the
// request path compares one number.
func (c *compiler) lifecycle() {
	c.snap.MaxKeyAge, c.snap.RotationWarning = c.doc.Lifecycle.Ages()
	for _, k := range c.snap.keys {
		c.snap.age(k)
	}
}

// age sets k.AgeLimit from the snapshot's max_key_age.
func (s *Snapshot) age(k *Key) {
	if s.MaxKeyAge == 0 {
		return
	}
	k.AgeLimit = 1 // unknown age: refused (a record written by hand)
	if k.Born != 0 {
		k.AgeLimit = k.Born + int64(s.MaxKeyAge)
	}
}

// KeyAges counts the keys that are not revoked by their age at now (unix
// nanoseconds): due are inside the rotation warning, not yet past
// max_key_age; over are past it. Both are 0 without a max_key_age.
func (s *Snapshot) KeyAges(now int64) (due, over int) {
	if s.MaxKeyAge == 0 {
		return 0, 0
	}
	for _, k := range s.keys {
		switch {
		case k.Revoked:
		case now >= k.AgeLimit:
			over++
		case s.RotationWarning > 0 && now >= k.AgeLimit-int64(s.RotationWarning):
			due++
		}
	}
	return due, over
}
