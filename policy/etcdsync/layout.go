package etcdsync

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
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
	resumedDir     = "/resumed/"
	eventsDir      = "/events/"
	eventsByDir    = "/events-by/" // sorts before eventsDir ('-' < '/')
	membersDir     = "/members/"
	approvalsDir   = "/approvals/"
	usesDir        = "/approval-uses/"
	slotsDir       = "/slots/"   // under usesDir + id
	approvalTree   = "/approval" // approvalsDir and usesDir, and nothing else
	demandDir      = "/demand/"
	auditHeadKey   = "/audit/head"
)

// JTIPrefix marks a revocation of a JWT by its token id ("jti:<id>")
// rather than of an API key.
const JTIPrefix = "jti:"

// Revocation is the record at revocations/<id>.
type Revocation struct {
	ID     string    `json:"id"` // key id, or jti:<token id>
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	Ticket string    `json:"ticket,omitempty"`
	Time   time.Time `json:"time"`
	// Expires, on a token's revocation only, is when it may be dropped:
	// the token's exp plus policy.MaxClockSkew, the most leeway any issuer
	// gives, after which every sidecar refuses the token as expired
	// anyway. Zero: never.
	Expires time.Time `json:"expires,omitzero"`
}

// Lapsed reports whether r is a token's revocation whose Expires has
// passed at now: it may be dropped without letting the token in.
func (r *Revocation) Lapsed(now time.Time) bool {
	return strings.HasPrefix(r.ID, JTIPrefix) && !r.Expires.IsZero() && !now.Before(r.Expires)
}

// lapsing reports whether v is the record of id, a token's revocation
// with an expiry that has not passed at now: one that only its lapse, on
// this sidecar's clock, ends (Syncer.keepLapsing).
func lapsing(id, v string, now time.Time) bool {
	var r Revocation
	return json.Unmarshal([]byte(v), &r) == nil && r.ID == id && strings.HasPrefix(id, JTIPrefix) &&
		!r.Expires.IsZero() && now.Before(r.Expires)
}

// Resumption is the record at resumed/<client> that etcdadmin's Resume
// writes as it deletes the client's suspension, on that suspension's
// lease, so it goes at the suspension's until. A read whole that lacks a
// suspension in force before its until lets it go only if a resumption of
// it or of a later suspension of the client says the client was resumed:
// a suspension gone otherwise was lost by etcd going back (a restored
// backup compacted past the witnesses: holdLostSuspensions).
type Resumption struct {
	Client string    `json:"client"`
	Actor  string    `json:"actor"`
	Time   time.Time `json:"time"`
	// Suspended is the Time of the suspension resumed.
	Suspended time.Time `json:"suspended"`
	// Until is the latest until of the suspensions this resumption
	// speaks for: a resumption replacing another that outlives the
	// suspension resumed keeps the other's until and lease, so a later,
	// shorter suspension resumed does not take with it, at its until, the
	// resumption of an earlier, longer one (etcdadmin's Resume).
	Until time.Time `json:"until,omitzero"`
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
	// AtLeast marks a containment's suspension (etcdadmin.SuspendAtLeast),
	// which never shortens one in force: a longer suspension a sidecar
	// holds over etcd gone back is not ended by it (supersedes).
	AtLeast bool `json:"at_least,omitempty"`
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

// Layout names the etcd keys of one deployment prefix: the key layout of
// the package documentation. Its value is the prefix without a trailing
// slash. The Syncer reads through it and etcdadmin writes through it, so
// both agree on every key.
type Layout string

// NewLayout returns the layout under prefix ("" means DefaultPrefix).
func NewLayout(prefix string) Layout {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Layout(strings.TrimRight(prefix, "/"))
}

// Policy is the key of the policy document.
func (k Layout) Policy() string { return string(k) + policyKey }

// History is the key of the history entry of the push at rev.
func (k Layout) History(rev int64) string { return string(k) + historyDir + pad(rev) }

// Key is the key of the API key record id.
func (k Layout) Key(id string) string { return string(k) + keysDir + id }

// Revocation is the key of the revocation of id (a key id or jti:<token id>).
func (k Layout) Revocation(id string) string { return string(k) + revocationsDir + id }

// Suspension is the key of the suspension of client c.
func (k Layout) Suspension(c string) string { return string(k) + suspensionsDir + c }

// Resumption is the key of the last resumption of client c.
func (k Layout) Resumption(c string) string { return string(k) + resumedDir + c }

// ResumedDir is the directory of the resumptions.
func (k Layout) ResumedDir() string { return string(k) + resumedDir }

// Member is the key of the member record of pod.
func (k Layout) Member(pod string) string { return string(k) + membersDir + pod }

// Demand is the key of the leased demand record of pod (global limits,
// issue 17).
func (k Layout) Demand(pod string) string { return string(k) + demandDir + pod }

// DemandDir is the prefix of the demand records, ending in "/".
func (k Layout) DemandDir() string { return string(k) + demandDir }

// AuditHead is the key of the newest signed head of the deployment's audit
// store, published by the collector so that `audit verify --etcd` finds a
// store rolled back on its own host (issue 21, item 3).
func (k Layout) AuditHead() string { return string(k) + auditHeadKey }

// Approval is the key of the approval record id (approval.go).
func (k Layout) Approval(id string) string { return string(k) + approvalsDir + id }

// ApprovalsDir is the prefix of the approval records, ending in "/".
func (k Layout) ApprovalsDir() string { return string(k) + approvalsDir }

// ApprovalUsesDir is the prefix of the approval use counters, ending in "/".
func (k Layout) ApprovalUsesDir() string { return string(k) + usesDir }

// ApprovalCounter is the key of the use counter of approval id
// (approvaluse.go): created with the grant, put once per use.
func (k Layout) ApprovalCounter(id string) string { return string(k) + usesDir + id }

// ApprovalSlot is the key of slot n (1 to max_uses) of approval id
// (hold.go): held by a reserved use, on a short lease, and kept once the
// use is spent. Its "/" keeps it from ever reading as a counter.
func (k Layout) ApprovalSlot(id string, n int) string {
	return k.ApprovalSlots(id) + strconv.Itoa(n)
}

// ApprovalSlots is the prefix of the slots of approval id, ending in "/".
func (k Layout) ApprovalSlots(id string) string { return string(k) + usesDir + id + slotsDir }

// ParseApprovalCounter returns the approval id of the use counter key
// key, or ok false when key is not one.
func (k Layout) ParseApprovalCounter(key string) (id string, ok bool) {
	id, found := strings.CutPrefix(key, string(k)+usesDir)
	if !found || !ValidApprovalID(id) {
		return "", false
	}
	return id, true
}

// ApprovalTree is the prefix of both the approval records and their use
// keys, so that one watch sees a grant and its uses in revision order.
func (k Layout) ApprovalTree() string { return string(k) + approvalTree }

// HistoryDir is the prefix of the policy history entries, ending in "/".
func (k Layout) HistoryDir() string { return string(k) + historyDir }

// KeysDir is the prefix of the API key records, ending in "/".
func (k Layout) KeysDir() string { return string(k) + keysDir }

// RevocationsDir is the prefix of the revocations, ending in "/".
func (k Layout) RevocationsDir() string { return string(k) + revocationsDir }

// SuspensionsDir is the prefix of the suspensions, ending in "/".
func (k Layout) SuspensionsDir() string { return string(k) + suspensionsDir }

// EventsDir is the prefix of the lifecycle events, ending in "/".
func (k Layout) EventsDir() string { return string(k) + eventsDir }

// MembersDir is the prefix of the member records, ending in "/".
func (k Layout) MembersDir() string { return string(k) + membersDir }

// Event names a new event key at t; the random suffix keeps two events of
// the same nanosecond apart.
func (k Layout) Event(t time.Time) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("cannot read random bytes: %w", err)
	}
	return string(k) + eventsDir + pad(t.UnixNano()) + "-" + hex.EncodeToString(b[:]), nil
}

// EventBound is the first event key at or after t.
func (k Layout) EventBound(t time.Time) string { return string(k) + eventsDir + pad(t.UnixNano()) }

// EventsByDir is the prefix of the lifecycle events written under an etcd
// user's own directory, ending in "/". It sorts before EventsDir, so
// every range from below both to the end of EventsDir holds it.
func (k Layout) EventsByDir() string { return string(k) + eventsByDir }

// EventsBy is the directory of the events etcd user user writes, ending
// in "/": the range a per-person etcd role may write (deploy/kubernetes).
// The user is path-escaped (url.PathEscape), so a "/" in a name cannot
// reach into another user's directory.
func (k Layout) EventsBy(user string) string {
	return string(k) + eventsByDir + url.PathEscape(user) + "/"
}

// EventBy names a new event key at t under the directory of etcd user
// user (EventsBy), with the suffix Event gives under events/.
func (k Layout) EventBy(user string, t time.Time) (string, error) {
	key, err := k.Event(t)
	if err != nil {
		return "", err
	}
	return k.EventsBy(user) + strings.TrimPrefix(key, string(k)+eventsDir), nil
}

// EventWriter returns the etcd user whose directory under events-by/
// holds key: the first path segment after EventsByDir, unescaped. ok is
// false for a key outside EventsByDir, and for one whose segment no
// EventsBy makes (no "/" after it, empty, or not escaped as EventsBy
// escapes): no user's role is granted its range.
func (k Layout) EventWriter(key string) (user string, ok bool) {
	rest, found := strings.CutPrefix(key, string(k)+eventsByDir)
	if !found {
		return "", false
	}
	seg, _, found := strings.Cut(rest, "/")
	if !found || seg == "" {
		return "", false
	}
	user, err := url.PathUnescape(seg)
	if err != nil || url.PathEscape(user) != seg {
		return "", false
	}
	return user, true
}

// EventSuffix returns the part of an event key after its directory (the
// <unixnano>-<rand> of Event), under events/ or under an etcd user's
// directory of events-by/; ok is false for any other key.
func (k Layout) EventSuffix(key string) (string, bool) {
	if s, ok := strings.CutPrefix(key, string(k)+eventsDir); ok {
		return s, true
	}
	rest, ok := strings.CutPrefix(key, string(k)+eventsByDir)
	if !ok {
		return "", false
	}
	_, s, ok := strings.Cut(rest, "/")
	return s, ok
}

// IsEvent reports whether key is an event key: under events/ or
// events-by/.
func (k Layout) IsEvent(key string) bool {
	return strings.HasPrefix(key, string(k)+eventsDir) || strings.HasPrefix(key, string(k)+eventsByDir)
}

// pad formats n as 20 digits, so keys sort numerically.
func pad(n int64) string { return fmt.Sprintf("%020d", n) }
