package etcdadmin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// Errors of the credential lifecycle policy (policy.LifecycleSpec; issue
// 20); match them with errors.Is.
var (
	ErrTicketRequired = errors.New("etcdadmin: the policy's lifecycle.require_ticket needs a change ticket")
	ErrKeyLifetime    = errors.New("etcdadmin: key lifetime beyond the policy's lifecycle.max_key_age")
)

// Blank reports whether s, a ticket or a name, has no character a reader
// sees: only spaces and format characters (a zero-width space, a word
// joiner, a byte order mark), or nothing.
func Blank(s string) bool { return visible(s) == "" }

// ticketed refuses a lifecycle change without a change ticket (Blank: no
// visible character) when the policy doc requires one.
func ticketed(doc *policy.Document, action, target string, meta Meta) error {
	if doc != nil && doc.Lifecycle.TicketRequired() && Blank(meta.Ticket) {
		return fmt.Errorf("%s of %q: %w", action, target, ErrTicketRequired)
	}
	return nil
}

// needTicket is ticketed for a change that does not read the policy
// itself. A policy that does not load requires nothing: revoking must
// work in an emergency.
func (a *Admin) needTicket(ctx context.Context, action, target string, meta Meta) error {
	if !Blank(meta.Ticket) {
		return nil
	}
	l, err := a.Lifecycle(ctx)
	if err != nil {
		return err
	}
	return ticketed(&policy.Document{Lifecycle: l}, action, target, meta)
}

// pushTicketed refuses a policy push without a ticket when the policy in
// force (st's) requires one: a push that turns require_ticket off needs a
// ticket too.
func pushTicketed(st *etcdsync.State, meta Meta) error {
	if st.Policy == "" || !Blank(meta.Ticket) {
		return nil
	}
	cur, err := policy.Load("policy", []byte(st.Policy))
	if err != nil {
		return nil // a broken policy in etcd must be replaceable
	}
	return ticketed(cur, ActionPolicyPush, "policy", meta)
}

// Lifecycle returns the lifecycle section of the policy in etcd: nil when
// there is none, no policy, or a policy that does not load.
func (a *Admin) Lifecycle(ctx context.Context) (*policy.LifecycleSpec, error) {
	st, err := etcdsync.ReadState(ctx, a.cli, a.k)
	if err != nil {
		return nil, err
	}
	doc, err := policy.Load(a.k.Policy(), []byte(st.Policy))
	if st.Policy == "" || err != nil {
		return nil, nil
	}
	return doc.Lifecycle, nil
}

// keyLifetime applies lifecycle.max_key_age to the lifetime asked of a new
// key: none asked is max_key_age, a longer one is refused.
func keyLifetime(l *policy.LifecycleSpec, client string, ttl time.Duration) (time.Duration, error) {
	maxAge, _ := l.Ages()
	switch {
	case maxAge == 0:
		return ttl, nil
	case ttl == 0:
		return maxAge, nil
	case ttl > maxAge:
		return 0, fmt.Errorf("key lifetime %s for client %q is longer than %s: %w", ttl, client, maxAge, ErrKeyLifetime)
	}
	return ttl, nil
}

// capLifetime bounds the successor of a rotated key: it keeps the old
// key's lifetime, never longer than max_key_age, and gets max_key_age when
// the old key had none.
func capLifetime(l *policy.LifecycleSpec, spec *policy.KeySpec, now time.Time) {
	maxAge, _ := l.Ages()
	if maxAge == 0 {
		return
	}
	na, _ := time.Parse(time.RFC3339, spec.NotAfter)
	if na.IsZero() || na.Sub(now) > maxAge {
		spec.NotAfter = now.Add(maxAge).UTC().Format(time.RFC3339)
	}
}

// KeyAge is a key record with its age against the lifecycle policy.
type KeyAge struct {
	KeyInfo
	Age       time.Duration `json:"age_ns"`                 // since created_at (else not_before); 0 when unknown
	MaxAge    time.Duration `json:"max_key_age_ns"`         // the policy's max_key_age; 0: none
	Expires   time.Time     `json:"expires"`                // when it stops being valid
	ExpiresBy string        `json:"expires_by"`             // max_key_age or not_after
	Overdue   bool          `json:"over_max_age,omitempty"` // past max_key_age: refused by every sidecar
}

// Expiring returns the keys of keys, not revoked, that stop being valid
// before now+within (those already expired included), soonest first, with
// their ages against l.
func Expiring(keys []KeyInfo, l *policy.LifecycleSpec, now time.Time, within time.Duration) []KeyAge {
	maxAge, _ := l.Ages()
	var out []KeyAge
	for _, k := range keys {
		at, by := l.KeyExpiry(&k.KeySpec)
		if k.IsRevoked() || k.Skipped != "" || at.IsZero() || !at.Before(now.Add(within)) {
			continue
		}
		ka := KeyAge{KeyInfo: k, MaxAge: maxAge, Expires: at, ExpiresBy: by}
		if born := k.Born(); !born.IsZero() {
			ka.Age = now.Sub(born)
		}
		ka.Overdue = maxAge > 0 && (ka.Age >= maxAge || k.Born().IsZero())
		out = append(out, ka)
	}
	slices.SortFunc(out, func(x, y KeyAge) int { return cmp.Or(x.Expires.Compare(y.Expires), cmp.Compare(x.ID, y.ID)) })
	return out
}
