package etcdadmin

import "time"

// Event actions.
const (
	ActionPolicyPush  = "policy.push"
	ActionKeyCreate   = "key.create"
	ActionKeyRotate   = "key.rotate"
	ActionKeyRevoke   = "key.revoke"
	ActionTokenRevoke = "token.revoke"
	// ActionTokenRevocationExpired is the deletion of a token revocation
	// whose token has expired everywhere (PruneRevocations).
	ActionTokenRevocationExpired = "token.revocation_expired"
	ActionClientSuspend          = "client.suspend"
	ActionClientResume           = "client.resume"

	// Written by the collector's follower (FollowEvents), never to etcd:
	ActionCounterDelete = "approval.counter_delete" // a use counter deleted before its lease's end
	ActionEventsGap     = "events.gap"              // etcd history compacted: uses may be missing
	ActionEventsRewind  = "events.rewind"           // etcd went back in revision: its history read again from the start

	// A put or delete under revocations/ or suspensions/ that no event of
	// its own transaction speaks for (written by hand, or a suspension's
	// lease revoked before its until): unattributed (FollowEvents).
	ActionRevocationDeleted = "revocation.deleted_unattributed"
	ActionRevocationWritten = "revocation.written_unattributed"
	ActionSuspensionDeleted = "suspension.deleted_unattributed"
	ActionSuspensionWritten = "suspension.written_unattributed"

	// A put or delete of the policy, a policy history entry, a key record
	// or an approval record that no event of its own transaction speaks
	// for (written by hand with the operator's etcd role; an approval
	// record deleted before its lease's end): unattributed (FollowEvents).
	ActionPolicyWritten   = "policy.written_unattributed"
	ActionPolicyDeleted   = "policy.deleted_unattributed"
	ActionHistoryWritten  = "policy_history.written_unattributed"
	ActionHistoryDeleted  = "policy_history.deleted_unattributed"
	ActionKeyWritten      = "key.written_unattributed"
	ActionKeyDeleted      = "key.deleted_unattributed"
	ActionApprovalWritten = "approval.written_unattributed"
	ActionApprovalDeleted = "approval.deleted_unattributed"
)

// HandWritten reports whether action is the follower's flag of a record
// written or deleted by hand, with no event of its transaction speaking
// for it (FollowEvents): a revocation, suspension, policy, policy history
// entry, key or approval record.
func HandWritten(action string) bool {
	switch action {
	case ActionRevocationDeleted, ActionRevocationWritten, ActionSuspensionDeleted, ActionSuspensionWritten,
		ActionPolicyWritten, ActionPolicyDeleted, ActionHistoryWritten, ActionHistoryDeleted,
		ActionKeyWritten, ActionKeyDeleted, ActionApprovalWritten, ActionApprovalDeleted:
		return true
	}
	return false
}

// Event is one lifecycle event: a change to the policy, a key or a client.
// Details never hold a secret.
type Event struct {
	Time     time.Time         `json:"time"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	Target   string            `json:"target"`
	Reason   string            `json:"reason,omitempty"`
	Ticket   string            `json:"ticket,omitempty"`
	Details  map[string]string `json:"details,omitempty"`
	Revision int64             `json:"revision,omitempty"` // etcd revision of the change (set when read)

	// Set by FollowEvents from etcd, never from the value:
	Key      string    `json:"-"` // the event's etcd key
	Cluster  uint64    `json:"-"` // the id of the etcd cluster it was read from
	Observed time.Time `json:"-"` // when the follower read the write from etcd
	// Unverified says why the change the event describes was not found in
	// the event's own transaction (same revision); "" when it was.
	Unverified string `json:"-"`
}

// DetailEtcdUser is the event detail that names the etcd user a change
// was written as (Meta.EtcdUser).
const DetailEtcdUser = "etcd_user"

// HistoryEntry is one pushed policy document, at policy-history/<rev>.
type HistoryEntry struct {
	Revision int64     `json:"revision"` // etcd revision of the push
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Reason   string    `json:"reason,omitempty"`
	Ticket   string    `json:"ticket,omitempty"`
	Digest   string    `json:"digest"` // SHA-256 of the document, hex
	Document string    `json:"document"`
}
