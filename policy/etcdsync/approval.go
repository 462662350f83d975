package etcdsync

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// States of an approval.
const (
	ApprovalPending = "pending"
	ApprovalGranted = "granted"
	ApprovalDenied  = "denied"
)

// Approval event actions: a request, a grant and a denial are written by
// the CLI (etcdadmin) with the change; a use is a use key under
// approval-uses/ (ApprovalUse), which the collector's follower turns into
// the approval.use event.
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
	Route     string `json:"route"` // "METHOD template" (policy.Route.RouteName), or an operation such as "keys create"
	State     string `json:"state"` // pending, granted or denied
	Requester string `json:"requester"`
	// RequesterEtcdUser is the etcd user the request was written as, when
	// etcd authentication is on: a grant written as the same user is
	// refused, whatever names the two commands claim.
	RequesterEtcdUser string    `json:"requester_etcd_user,omitempty"`
	Reason            string    `json:"reason"`
	Ticket            string    `json:"ticket,omitempty"`
	Requested         time.Time `json:"requested"`
	MaxUses           int       `json:"max_uses"`
	MaxAge            string    `json:"max_age"` // Go duration
	Approver          string    `json:"approver,omitempty"`
	Note              string    `json:"note,omitempty"`
	Decided           time.Time `json:"decided,omitzero"` // when granted or denied
	Expires           time.Time `json:"expires,omitzero"` // Decided + MaxAge, for a grant
	// UsesLease is the lease the use keys go on (ApprovalUse): created with
	// the grant, of MaxAge plus UseRetention, and holding no other key, so
	// that a sidecar may attach to it (etcd refuses a put on a lease that
	// holds a key the writer cannot write, such as this record).
	UsesLease int64 `json:"uses_lease,omitempty"`
	// Uses is the number of uses: as stored, the uses counted in the
	// record by versions before the use keys (zero since); as returned by
	// etcdadmin and seen by Problem, that plus the use keys (Tally).
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
	case a.Uses >= a.MaxUses:
		return "used up"
	}
	return ""
}

// Tally returns the uses of a as stored plus the use numbers taken (the
// use keys of a, in any order), and the use number the next use takes, or
// 0 when a is used up. Use numbers run from the stored count + 1 to
// MaxUses, so a use key exists at most once per use max_uses allows.
func (a *Approval) Tally(taken []int) (uses, next int) {
	uses = a.Uses
	for _, n := range taken {
		if n > a.Uses && n <= a.MaxUses {
			uses++
		}
	}
	for n := a.Uses + 1; n <= a.MaxUses; n++ {
		if !slices.Contains(taken, n) {
			return uses, n
		}
	}
	return uses, 0
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
