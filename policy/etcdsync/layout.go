package etcdsync

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// DefaultPrefix is the key prefix of a deployment when none is given.
const DefaultPrefix = "/portcullis/default"

// Subkeys of a deployment prefix; see the package documentation.
const (
	policyKey      = "/policy"
	historyDir     = "/policy-history/"
	keysDir        = "/keys/"
	revocationsDir = "/revocations/"
	suspensionsDir = "/suspensions/"
	eventsDir      = "/events/"
	membersDir     = "/members/"
)

// JTIPrefix marks a revocation of a JWT by its token id ("jti:<id>")
// rather than of an API key.
const JTIPrefix = "jti:"

// Event actions.
const (
	ActionPolicyPush    = "policy.push"
	ActionKeyCreate     = "key.create"
	ActionKeyRotate     = "key.rotate"
	ActionKeyRevoke     = "key.revoke"
	ActionTokenRevoke   = "token.revoke"
	ActionClientSuspend = "client.suspend"
	ActionClientResume  = "client.resume"
)

// Meta says who makes a change and why. Every change carries it into its
// lifecycle event.
type Meta struct {
	Actor    string
	Reason   string
	Ticket   string
	EtcdUser string // the etcd user the change was written as, if etcd authentication is used; recorded as the event detail "etcd_user"
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
	Observed time.Time `json:"-"` // when the follower read the write from etcd
	// Unverified says why the change the event describes was not found in
	// the event's own transaction (same revision); "" when it was.
	Unverified string `json:"-"`
}

// DetailEtcdUser is the event detail that names the etcd user a change
// was written as (Meta.EtcdUser).
const DetailEtcdUser = "etcd_user"

// Revocation is the record at revocations/<id>.
type Revocation struct {
	ID     string    `json:"id"` // key id, or jti:<token id>
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	Ticket string    `json:"ticket,omitempty"`
	Time   time.Time `json:"time"`
}

// Suspension is the record at suspensions/<client>. It sits on a lease
// that expires at Until, so the suspension lifts itself.
type Suspension struct {
	Client string    `json:"client"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	Ticket string    `json:"ticket,omitempty"`
	Time   time.Time `json:"time"`
	Until  time.Time `json:"until"`
}

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

// Member is the leased record a sidecar keeps at members/<pod>.
type Member struct {
	Pod      string    `json:"pod"`
	Revision int64     `json:"revision"` // policy revision applied
	Digest   string    `json:"digest"`   // policy.Snapshot.Digest, hex: the compiled inputs (document, keys, revocations, suspensions)
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`

	// PolicyDigest is the SHA-256, hex, of the policy document in force
	// (policy.Document.SourceDigest): the digest HistoryEntry.Digest holds
	// for the push, so the two compare.
	PolicyDigest string `json:"policy_digest,omitempty"`
}

// layout names the etcd keys of one deployment prefix: the key layout of
// the package documentation.
type layout string

func newLayout(prefix string) layout {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return layout(strings.TrimRight(prefix, "/"))
}

func (k layout) policy() string              { return string(k) + policyKey }
func (k layout) history(rev int64) string    { return string(k) + historyDir + pad(rev) }
func (k layout) key(id string) string        { return string(k) + keysDir + id }
func (k layout) revocation(id string) string { return string(k) + revocationsDir + id }
func (k layout) suspension(c string) string  { return string(k) + suspensionsDir + c }
func (k layout) member(pod string) string    { return string(k) + membersDir + pod }
func (k layout) dir(sub string) string       { return string(k) + sub }

// event names a new event key at t; the random suffix keeps two events of
// the same nanosecond apart.
func (k layout) event(t time.Time) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cannot read random bytes: %w", err)
	}
	return string(k) + eventsDir + pad(t.UnixNano()) + "-" + hex.EncodeToString(b[:]), nil
}

// eventBound is the first event key at or after t.
func (k layout) eventBound(t time.Time) string { return string(k) + eventsDir + pad(t.UnixNano()) }

// pad formats n as 20 digits, so keys sort numerically.
func pad(n int64) string { return fmt.Sprintf("%020d", n) }
