package etcdsync

import (
	"encoding/json"
	"fmt"
	"time"
)

// States of an approval.
const (
	ApprovalPending = "pending"
	ApprovalGranted = "granted"
	ApprovalDenied  = "denied"
)

// Approval event actions: a request, a grant and a denial are written by
// the CLI (etcdadmin) with the change; a use is a put of
// its counter under approval-uses/ (ApprovalUse), which the collector's
// follower turns into the approval.use event.
const (
	ActionApprovalRequest = "approval.request"
	ActionApprovalGrant   = "approval.grant"
	ActionApprovalDeny    = "approval.deny"
	ActionApprovalUse     = "approval.use"
)

// MaxApprovalID is the longest approval id.
const MaxApprovalID = 40

// Approval is the record at approvals/<id>: one request for a privileged
// action by one client on one route, and what became of it. A granted
// approval sits on a lease of MaxAge, so it disappears from etcd when it
// expires; the lifecycle events keep its history.
type Approval struct {
	ID        string `json:"id"`
	Client    string `json:"client"`
	Route     string `json:"route"` // "METHOD template" (policy.Route.RouteName), or an operation: "keys create", "keys rotate"
	State     string `json:"state"` // pending, granted or denied
	Requester string `json:"requester"`
	// RequesterEtcdUser is the etcd user the request was written as, when
	// etcd authentication is on: a grant written as the same user is
	// refused, whatever names the two commands claim.
	RequesterEtcdUser string    `json:"requester_etcd_user,omitempty"`
	Reason            string    `json:"reason"`
	Ticket            string    `json:"ticket,omitempty"`
	Requested         time.Time `json:"requested"`
	// PolicyRevision is, for an approval of a policy push, the revision of
	// the policy in etcd the request compared the document with: what its
	// approval.request event says the push weakens. The grant and the push
	// refuse it once the policy has moved on (etcdadmin).
	PolicyRevision int64 `json:"policy_revision,omitempty"`
	// WeakeningsDigest is, for an approval of a policy push, the SHA-256
	// (hex) of the whole list of weakenings the request computed: what
	// the approver was asked to let through. The push computes the list
	// again and refuses the approval when it differs (etcdadmin).
	WeakeningsDigest string    `json:"weakenings_sha256,omitempty"`
	MaxUses          int       `json:"max_uses"`
	MaxAge           string    `json:"max_age"` // Go duration
	Approver         string    `json:"approver,omitempty"`
	Note             string    `json:"note,omitempty"`
	Decided          time.Time `json:"decided,omitzero"` // when granted or denied
	Expires          time.Time `json:"expires,omitzero"` // Decided + MaxAge, for a grant
	// UsesLease is the lease the use counter goes on (ApprovalUse):
	// created with the grant, of MaxAge plus UseRetention, and holding no
	// other key. A use's put keeps the counter on it (WithIgnoreLease).
	UsesLease int64 `json:"uses_lease,omitempty"`
	// UsesCounter marks a record whose uses are counted on its counter
	// key, approval-uses/<id>, created in the transaction that writes the
	// grant (so the counter's create revision is the grant's mod
	// revision). Such a record stores Uses as MaxUses, so that binaries
	// from before the counter, which count in the record, see it used up
	// and refuse it; Count ignores the stored field for it.
	UsesCounter bool `json:"uses_counter,omitempty"`
	// UsesRev is the create revision of the counter, recorded when a
	// later write (a denial) moves the record's mod revision off it.
	UsesRev int64 `json:"uses_rev,omitempty"`
	// Uses is the number of uses: as stored, MaxUses for a UsesCounter
	// record and the count of binaries before the counter otherwise; as
	// returned by etcdadmin and seen by Problem, what Count makes of it.
	Uses    int       `json:"uses"`
	LastUse time.Time `json:"last_use,omitzero"`
}

// DecodeApproval decodes an approval record.
func DecodeApproval(b []byte) (Approval, error) {
	var a Approval
	if err := json.Unmarshal(b, &a); err != nil {
		return Approval{}, fmt.Errorf("cannot decode approval record: %w", err)
	}
	return a, nil
}

// Problem says why a cannot admit a request of client on route at now,
// or returns "" when it can. The texts are constants, so the sidecar
// allocates nothing to refuse.
func (a *Approval) Problem(client, route string, now time.Time) string {
	switch {
	case a.State != ApprovalGranted:
		return "not granted"
	case a.Client != client:
		return "granted for another client"
	case a.Route != route:
		return "granted for another route"
	case !now.Before(a.Expires):
		return "expired"
	case !a.UsesCounter:
		return "granted by a version before the use counter: request a new approval"
	case a.Uses >= a.MaxUses:
		return "used up"
	}
	return ""
}

// Count sets a.Uses, of a record at mod revision rev, from its counter
// c: the counter's version less the operator's create, at most MaxUses. A
// counter that is missing or not the one created with the grant (deleted
// or re-created since) counts as used up: uses are never given back. A
// record from before the counter keeps its stored count.
func (a *Approval) Count(rev int64, c Counter) {
	if !a.UsesCounter {
		return
	}
	a.Uses = a.MaxUses
	if c.Create == a.usesRev(rev) && c.Version >= 1 && c.Version-1 < int64(a.MaxUses) {
		a.Uses = int(c.Version - 1)
	}
}

// usesRev returns the create revision a's counter must have, a's record
// being at mod revision rev.
func (a *Approval) usesRev(rev int64) int64 {
	if a.UsesRev != 0 {
		return a.UsesRev
	}
	return rev
}

// ValidApprovalID reports whether id can name an approval: 1 to
// MaxApprovalID lowercase letters, digits, '_' or '-'. Anything else is
// never looked up.
func ValidApprovalID[T ~string | ~[]byte](id T) bool {
	if len(id) == 0 || len(id) > MaxApprovalID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
