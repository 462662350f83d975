package etcdadmin

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// KeyInfo is an API key record as an operator sees it: never the secret.
type KeyInfo struct {
	policy.KeySpec
	Source     string               `json:"source"`               // "etcd" (keys/<id>) or "policy" (the document's keys:)
	Revision   int64                `json:"revision,omitempty"`   // etcd mod revision of the record
	Revocation *etcdsync.Revocation `json:"revocation,omitempty"` // set when revoked through etcd
	Successor  string               `json:"successor,omitempty"`  // the key that replaced it in a rotation (ShowKey only)
	Skipped    string               `json:"skipped,omitempty"`    // why the sidecars leave the record out (it authenticates nothing); "" if they do not
}

// IsRevoked reports whether the key is revoked, in its record or in etcd.
func (k KeyInfo) IsRevoked() bool { return k.Revoked || k.Revocation != nil }

// CreateKey makes a new API key for client, valid from now for ttl (0: no
// expiry), and stores its record (the SHA-256 only) with a key.create
// event. The client must exist in the policy in etcd. Under the policy's
// lifecycle section, ttl 0 is max_key_age, a longer ttl is refused
// (ErrKeyLifetime) and require_ticket refuses a change without a ticket
// (ErrTicketRequired). The key is returned once; it is not stored anywhere.
func (a *Admin) CreateKey(ctx context.Context, client string, ttl time.Duration, meta Meta) (key string, spec policy.KeySpec, err error) {
	if ttl < 0 {
		return "", spec, fmt.Errorf("key lifetime %s is negative", ttl)
	}
	for range attempts {
		st, doc, err := a.current(ctx)
		if err != nil {
			return "", spec, err
		}
		if !hasClient(doc, client) {
			return "", spec, fmt.Errorf("client %q is not in the policy at revision %d: %w", client, st.PolicyRevision, ErrNotFound)
		}
		if err := ticketed(doc, ActionKeyCreate, client, meta); err != nil { // lifecycle.go
			return "", spec, err
		}
		life, err := keyLifetime(doc.Lifecycle, client, ttl)
		if err != nil {
			return "", spec, err
		}
		now := a.now().Truncate(time.Second)
		var notAfter time.Time
		if life > 0 {
			notAfter = now.Add(life)
		}
		key, spec, err = policy.GenerateKey(client, meta.Actor, meta.Ticket, now, notAfter)
		if err != nil {
			return "", spec, err
		}
		spec.CreatedAt = now.UTC().Format(time.RFC3339)
		use, err := a.keyApproval(ctx, doc, client, KeysCreateRoute, meta)
		if err != nil {
			return "", policy.KeySpec{}, err
		}
		rev, err := a.createAt(ctx, st, spec, meta, now, use.cmps, use.ops)
		if rev != 0 || err != nil {
			return key, spec, err
		}
	}
	return "", spec, fmt.Errorf("key create for client %q lost %d races: %w", client, attempts, ErrConflict)
}

// createAt writes the key record spec and its key.create event, with the
// approval use (useCmps, useOps) that authorises it when one is needed, in
// one transaction on the policy revision st read.
func (a *Admin) createAt(ctx context.Context, st *etcdsync.State, spec policy.KeySpec, meta Meta, now time.Time, useCmps []clientv3.Cmp, useOps []clientv3.Op) (int64, error) {
	put, err := putJSON(a.k.Key(spec.ID), spec)
	if err != nil {
		return 0, err
	}
	details := map[string]string{"client": spec.Client, "not_after": spec.NotAfter}
	if len(useOps) > 0 {
		details["approval"] = meta.Approval
	}
	ev, err := a.eventOp(now, ActionKeyCreate, spec.ID, meta, details)
	if err != nil {
		return 0, err
	}
	cmps := []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(a.k.Policy()), "=", st.PolicyRevision),
		clientv3.Compare(clientv3.CreateRevision(a.k.Key(spec.ID)), "=", 0),
	}
	return a.commit(ctx, append(cmps, useCmps...), append([]clientv3.Op{put, ev}, useOps...)...)
}

// needsKeyApproval reports whether a key for client needs a granted
// approval: the policy's lifecycle.privileged_key_approval holds and the
// client holds a scope the policy marks privileged.
func needsKeyApproval(doc *policy.Document, client string) bool {
	if doc.Lifecycle == nil || !doc.Lifecycle.PrivilegedKeyApproval {
		return false
	}
	privileged := make(map[string]bool, len(doc.Scopes))
	for _, sc := range doc.Scopes {
		privileged[sc.Name] = sc.Privileged
	}
	for _, c := range doc.Clients {
		if c.ID == client {
			return slices.ContainsFunc(c.Scopes, func(s string) bool { return privileged[s] })
		}
	}
	return false
}

func hasClient(doc *policy.Document, id string) bool {
	return slices.ContainsFunc(doc.Clients, func(c policy.ClientSpec) bool { return c.ID == id })
}

// RotateKey replaces the key record id (in etcd) with a new key for the same
// client, valid from now: the old key stays valid for overlap more (never
// longer than it already was), so callers can switch without an outage.
// Both records and a key.rotate event are written in one transaction, on
// the policy revision read. The new key keeps the old one's lifetime, if
// it had one. Under lifecycle.privileged_key_approval the rotation of a
// key of a client holding a privileged scope needs meta.Approval, a
// granted approval for KeysRotateRoute of that client (as CreateKey needs
// one for KeysCreateRoute): the successor is a new privileged credential;
// the transaction spends it. It returns the new key once.
func (a *Admin) RotateKey(ctx context.Context, id string, overlap time.Duration, meta Meta) (key string, spec policy.KeySpec, err error) {
	if overlap < 0 {
		return "", spec, fmt.Errorf("rotation overlap %s is negative", overlap)
	}
	for range attempts {
		doc, policyRev, err := a.policyDoc(ctx)
		if err != nil {
			return "", spec, err
		}
		if err := ticketed(doc, ActionKeyRotate, id, meta); err != nil {
			return "", spec, err
		}
		old, modRev, err := a.etcdKey(ctx, id)
		if err != nil {
			return "", spec, err
		}
		// A second successor would leave the first valid, unnamed, and be
		// valid itself only for old's span as the first rotation cut it.
		if next, err := a.successor(ctx, KeyInfo{KeySpec: *old}); err != nil || next != "" {
			return "", spec, cmp.Or(err, fmt.Errorf("key %q was already rotated, replaced by %q: rotate that key instead: %w", id, next, ErrExists))
		}
		now := a.now().Truncate(time.Second)
		if err := deadPrivileged(doc, old, now); err != nil {
			return "", spec, err
		}
		use, err := a.keyApproval(ctx, doc, old.Client, KeysRotateRoute, meta)
		if err != nil {
			return "", policy.KeySpec{}, err
		}
		key, spec, err = rotated(old, now, overlap, meta)
		if err != nil {
			return "", spec, err
		}
		spec.CreatedAt = now.UTC().Format(time.RFC3339)
		capLifetime(doc.Lifecycle, &spec, now)
		use.cmps = append(use.cmps, clientv3.Compare(clientv3.ModRevision(a.k.Policy()), "=", policyRev))
		rev, err := a.rotateAt(ctx, old, modRev, spec, meta, now, use)
		if rev != 0 || err != nil {
			return key, spec, err
		}
	}
	return "", spec, fmt.Errorf("key rotate of %q lost %d races: %w", id, attempts, ErrConflict)
}

// approvalSpend is the compares and writes that spend an approval in the
// transaction of the change it authorises (approvalUse); empty when the
// change needs none.
type approvalSpend struct {
	cmps []clientv3.Cmp
	ops  []clientv3.Op
}

// keyApproval returns the spend of meta.Approval on a new key of client
// under doc made by the operation route (KeysCreateRoute, or
// KeysRotateRoute for the successor of keys rotate): an approval of that
// route when the key needs one (needsKeyApproval). An
// approval named when none is needed is refused as unused: ignored, the
// key was made as if the operator had named none, the trail did not name
// the approval, which stayed unused, and a mistyped id passed without a
// word. Before, keys rotate needed none, and one operator made a fresh
// privileged credential alone (review193).
func (a *Admin) keyApproval(ctx context.Context, doc *policy.Document, client, route string, meta Meta) (approvalSpend, error) {
	if !needsKeyApproval(doc, client) {
		if meta.Approval != "" {
			return approvalSpend{}, fmt.Errorf("a key for client %q needs no approval (lifecycle.privileged_key_approval is off or the client holds no privileged scope), so approval %q would not be used: leave it out: %w", client, meta.Approval, ErrNotApproved)
		}
		return approvalSpend{}, nil
	}
	cmps, ops, err := a.approvalUse(ctx, meta.Approval, client, route, 0, meta)
	if err != nil {
		return approvalSpend{}, fmt.Errorf("a new key of client %q, which holds a privileged scope: %w", client, err)
	}
	return approvalSpend{cmps, ops}, nil
}

// deadPrivileged refuses the rotation of old at now when every sidecar
// already refuses old (past its not_after, or lifecycle.max_key_age) and
// a new key for its client needs an approval (needsKeyApproval): its
// successor would be a new credential, not a rotation, and keys create
// --approval is how one is made.
func deadPrivileged(doc *policy.Document, old *policy.KeySpec, now time.Time) error {
	at, by := doc.Lifecycle.KeyExpiry(old)
	if at.IsZero() || now.Before(at) || !needsKeyApproval(doc, old.Client) {
		return nil
	}
	return fmt.Errorf("key %q of client %q, which holds a privileged scope, stopped being valid at %s (%s): its successor would be a new credential; make one with keys create --approval: %w",
		old.ID, old.Client, at.UTC().Format(time.RFC3339), by, ErrNotApproved)
}

// policyDoc returns the policy document a rotation is judged by, and the
// revision of the policy in etcd: the document in etcd, or when it does
// not load or is gone (written or deleted by hand), the newest pushed
// document of the history that loads, as a push takes it (inForce): the
// sidecars keep the policy they had, under which a successor of a
// privileged client's key is a live privileged credential. Before, such a
// state required nothing, and one operator's etcdctl put or del made a
// privileged key rotate without an approval
// (TestRotateWhileThePolicyDoesNotLoadNeedsAnApproval). With no document that
// loads at all it refuses, as keys create does: a leaked key is revoked
// (keys revoke needs no policy), not rotated.
func (a *Admin) policyDoc(ctx context.Context) (*policy.Document, int64, error) {
	st, err := etcdsync.ReadState(ctx, a.cli, a.k)
	if err != nil {
		return nil, 0, err
	}
	doc, err := a.loadableDoc(ctx, st) // pushapproval.go
	if err != nil {
		return nil, 0, err
	}
	if doc != nil {
		return doc, st.PolicyRevision, nil
	}
	return nil, 0, fmt.Errorf("no policy document that loads at %q, nor in its history: a rotation is judged by the policy in force; push one first (keys revoke needs none): %w", a.k.Policy(), ErrNotFound)
}

// rotated shortens old (in place) to now+overlap and makes its successor.
func rotated(old *policy.KeySpec, now time.Time, overlap time.Duration, meta Meta) (string, policy.KeySpec, error) {
	nb, _ := time.Parse(time.RFC3339, old.NotBefore)
	na, _ := time.Parse(time.RFC3339, old.NotAfter)
	var newAfter time.Time
	if !nb.IsZero() && !na.IsZero() {
		newAfter = now.Add(na.Sub(nb))
	}
	end := now.Add(overlap)
	if na.IsZero() || end.Before(na) {
		if !nb.IsZero() && !end.After(nb) {
			return "", policy.KeySpec{}, fmt.Errorf("key %q is not valid before %s, after the overlap ends at %s", old.ID, old.NotBefore, end.UTC().Format(time.RFC3339))
		}
		old.NotAfter = end.UTC().Format(time.RFC3339)
	}
	return policy.GenerateKey(old.Client, meta.Actor, meta.Ticket, now, newAfter)
}

// rotateAt writes the rotation of old (read at modRev) to spec and its
// key.rotate event, with use, in one transaction.
func (a *Admin) rotateAt(ctx context.Context, old *policy.KeySpec, modRev int64, spec policy.KeySpec, meta Meta, now time.Time, use approvalSpend) (int64, error) {
	putOld, err := putJSON(a.k.Key(old.ID), old)
	if err != nil {
		return 0, err
	}
	putNew, err := putJSON(a.k.Key(spec.ID), spec)
	if err != nil {
		return 0, err
	}
	details := map[string]string{"client": old.Client, "new_key": spec.ID, "old_not_after": old.NotAfter}
	if len(use.ops) > 0 {
		details["approval"] = meta.Approval
	}
	ev, err := a.eventOp(now, ActionKeyRotate, old.ID, meta, details)
	if err != nil {
		return 0, err
	}
	cmps := []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(a.k.Key(old.ID)), "=", modRev),
		clientv3.Compare(clientv3.CreateRevision(a.k.Key(spec.ID)), "=", 0),
		clientv3.Compare(clientv3.CreateRevision(a.k.Revocation(old.ID)), "=", 0),
	}
	return a.commit(ctx, append(cmps, use.cmps...), append([]clientv3.Op{putOld, putNew, ev}, use.ops...)...)
}

// etcdKey reads the key record keys/<id>. A key of the policy document
// cannot be changed through etcd, and one already revoked is not rotated.
func (a *Admin) etcdKey(ctx context.Context, id string) (*policy.KeySpec, int64, error) {
	resp, err := a.cli.Txn(ctx).Then(clientv3.OpGet(a.k.Key(id)), clientv3.OpGet(a.k.Revocation(id), clientv3.WithCountOnly())).Commit()
	if err != nil {
		return nil, 0, fmt.Errorf("cannot read key %q: %w", id, err)
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return nil, 0, fmt.Errorf("no key record %q in etcd (keys in the policy document change with the document): %w", id, ErrNotFound)
	}
	if resp.Responses[1].GetResponseRange().Count > 0 {
		return nil, 0, fmt.Errorf("key %q is revoked", id)
	}
	// The sidecars' decoder, not a lax one: a record they leave out (a
	// field spelt "expires", a member named twice) rewritten from what a
	// lax decoder made of it would authenticate again.
	ks, err := etcdsync.DecodeKey(id, string(kvs[0].Value))
	if err != nil {
		return nil, 0, fmt.Errorf("key record %q is invalid and the sidecars leave it out (%w): revoke it, or delete it and create another", id, err)
	}
	return &ks, kvs[0].ModRevision, nil
}

// RevokeKey revokes the API key id, or with the "jti:" prefix a JWT by its
// token id, writing revocations/<id> and its event in one transaction.
// meta.Reason is required. A key must exist (in etcd or the document); a
// token id is taken as given. It returns the revision of the revocation,
// or ErrExists if id is already revoked.
func (a *Admin) RevokeKey(ctx context.Context, id string, meta Meta) (int64, error) {
	return a.revoke(ctx, id, time.Time{}, meta, true)
}

// RevokeHeld revokes id as RevokeKey does, without asking that it be a
// key: it makes durable a revocation the sidecars hold over etcd gone back
// (their error line names the ids, /readyz counts them) whose key record
// is gone since, which RevokeKey refuses as no key and which the sidecars
// hold until a revocation of that id is in etcd again. An id that was
// never a key is revoked all the same: a revocation admits nothing.
func (a *Admin) RevokeHeld(ctx context.Context, id string, meta Meta) (int64, error) {
	return a.revoke(ctx, id, time.Time{}, meta, false)
}

// heldIDPattern is the policy's pattern of a key id (policy.KeySpec):
// RevokeHeld, which cannot ask that id be a key, still asks that it could
// be one, so a slip does not write a revocation under a path of its own.
var heldIDPattern = regexp.MustCompile(`^[a-z0-9]{8,32}$`)

// RevokeToken revokes the JWT whose jti is jti, as RevokeKey does
// jti:<jti>, and with exp (the token's exp claim; zero: unknown) lets the
// revocation expire at exp plus policy.MaxClockSkew, the most leeway any
// issuer may give: from then on every sidecar refuses the token as
// expired, so the sidecars may drop the revocation, and PruneRevocations
// delete it PruneGrace later.
func (a *Admin) RevokeToken(ctx context.Context, jti string, exp time.Time, meta Meta) (int64, error) {
	var expires time.Time
	if !exp.IsZero() {
		if exp.Unix() <= 0 {
			return 0, fmt.Errorf("token exp %s of %q is not after the Unix epoch", exp.Format(time.RFC3339), jti)
		}
		expires = exp.Add(policy.MaxClockSkew).UTC()
	}
	return a.revoke(ctx, etcdsync.JTIPrefix+jti, expires, meta, true)
}

func (a *Admin) revoke(ctx context.Context, id string, expires time.Time, meta Meta, mustExist bool) (int64, error) {
	if meta.Reason == "" {
		return 0, fmt.Errorf("revocation of %q needs a reason", id)
	}
	if err := a.needTicket(ctx, ActionKeyRevoke, id, meta); err != nil { // lifecycle.go
		return 0, err
	}
	action := ActionKeyRevoke
	if jti, ok := strings.CutPrefix(id, etcdsync.JTIPrefix); ok {
		// Any token id the sidecars accept can be revoked: one holding
		// '/' (a URI, as some issuers make) was refused, and its token
		// stayed valid until its exp (TestRevokeTokenOfAURIJTI). The
		// sidecars refuse a token whose jti holds a control character
		// (jwt's revocableJTI), as this does.
		if jti == "" || strings.ContainsFunc(jti, unicode.IsControl) {
			return 0, fmt.Errorf("token id %q is empty or holds a control character", jti)
		}
		action = ActionTokenRevoke
	} else if mustExist {
		if err := a.mayRevoke(ctx, id); err != nil {
			return 0, err
		}
	} else if !heldIDPattern.MatchString(id) {
		return 0, fmt.Errorf("key id %q must be 8-32 characters [a-z0-9], as every key id is", id)
	}
	now := a.now()
	put, err := putJSON(a.k.Revocation(id), etcdsync.Revocation{ID: id, Actor: meta.Actor, Reason: meta.Reason, Ticket: meta.Ticket, Time: now.UTC(), Expires: expires})
	if err != nil {
		return 0, err
	}
	var details map[string]string
	if !expires.IsZero() {
		details = map[string]string{"expires": expires.Format(time.RFC3339)}
	}
	ev, err := a.eventOp(now, action, id, meta, details)
	if err != nil {
		return 0, err
	}
	rev, err := a.commit(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(a.k.Revocation(id)), "=", 0)}, put, ev)
	if err == nil && rev == 0 {
		err = fmt.Errorf("%q is already revoked: %w", id, ErrExists)
	}
	return rev, err
}

// PruneGrace is how long after a token revocation's expiry, on the clock
// of the machine that prunes, PruneRevocations waits before it deletes
// it. The lapse that counts is on each sidecar's clock, which judges the
// token's exp: a sidecar that sees a revocation deleted before it lapsed
// there holds it until then (etcdsync), but one started after the
// deletion never saw it, and the token got in while its clock was behind
// the pruning machine's by more than the grace. An hour covers any clock
// kept by NTP; pruning is housekeeping, and an hour more costs nothing.
const PruneGrace = time.Hour

// PruneRevocations deletes the token revocations that expired
// (etcdsync.Revocation.Lapsed) PruneGrace ago or more, each with its
// ActionTokenRevocationExpired event in one transaction that compares
// the record's revision, so a revocation written again meanwhile stays.
// Key revocations, token revocations without an expiry and records that
// do not decode are never deleted. It returns the ids deleted, sorted.
func (a *Admin) PruneRevocations(ctx context.Context, meta Meta) ([]string, error) {
	resp, err := a.cli.Get(ctx, a.k.RevocationsDir(), clientv3.WithPrefix())
	if err != nil {
		// A read: nothing was written, whatever became of its answer.
		return nil, fmt.Errorf("cannot read the revocations under %q: %w", string(a.k), err)
	}
	now := a.now()
	lapsedAt := now.Add(-PruneGrace)
	var pruned []string
	for _, kv := range resp.Kvs {
		id := strings.TrimPrefix(string(kv.Key), a.k.RevocationsDir())
		var r etcdsync.Revocation
		if json.Unmarshal(kv.Value, &r) != nil || r.ID != id || !r.Lapsed(lapsedAt) {
			continue
		}
		ev, err := a.eventOp(now, ActionTokenRevocationExpired, id, meta, map[string]string{"expires": r.Expires.Format(time.RFC3339)})
		if err != nil {
			return pruned, err
		}
		key := string(kv.Key)
		rev, err := a.commit(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)}, clientv3.OpDelete(key), ev)
		if err != nil {
			return pruned, err
		}
		if rev != 0 {
			pruned = append(pruned, id)
		}
	}
	slices.Sort(pruned)
	return pruned, nil
}

// mayRevoke refuses to revoke an id that is certainly no key: not in
// etcd and not in a document that loads. With a broken document in etcd
// the revocation goes ahead, since revoking must work in an emergency.
func (a *Admin) mayRevoke(ctx context.Context, id string) error {
	st, err := etcdsync.ReadState(ctx, a.cli, a.k)
	if err != nil {
		return err
	}
	if _, ok := st.Keys[id]; ok {
		return nil
	}
	doc, err := policy.Load(a.k.Policy(), []byte(st.Policy))
	if err != nil || slices.ContainsFunc(doc.Keys, func(k policy.KeySpec) bool { return k.ID == id }) {
		return nil
	}
	return fmt.Errorf("no key %q under %q: %w", id, string(a.k), ErrNotFound)
}

// ListKeys returns the key records of client ("" for every client), from
// etcd and from the policy document, sorted by client and id. A key
// record in etcd that does not decode is left out; KeyRecords names it.
func (a *Admin) ListKeys(ctx context.Context, client string) ([]KeyInfo, error) {
	out, _, err := a.KeyRecords(ctx, client)
	return out, err
}

// KeyRecords is ListKeys with a line for each key record in etcd left out
// as invalid (whatever its client: it does not say), as the sidecars
// log it: keys list left such records out without a word, and keys show
// said there was no such key.
func (a *Admin) KeyRecords(ctx context.Context, client string) ([]KeyInfo, []string, error) {
	st, err := etcdsync.ReadState(ctx, a.cli, a.k)
	if err != nil {
		return nil, nil, err
	}
	all, bad, err := a.keyInfos(ctx, st)
	if err != nil {
		return nil, nil, err
	}
	out := all[:0]
	for _, k := range all {
		if client == "" || k.Client == client {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(x, y KeyInfo) int { return cmp.Or(cmp.Compare(x.Client, y.Client), cmp.Compare(x.ID, y.ID)) })
	return out, bad, nil
}

// ShowKey returns the key record id, or ErrNotFound (saying why when its
// record is invalid).
func (a *Admin) ShowKey(ctx context.Context, id string) (KeyInfo, error) {
	all, bad, err := a.KeyRecords(ctx, "")
	if err != nil {
		return KeyInfo{}, err
	}
	for _, k := range all {
		if k.ID == id {
			k.Successor, err = a.successor(ctx, k)
			return k, err
		}
	}
	for _, line := range bad {
		if strings.HasPrefix(line, fmt.Sprintf("key record %q ", id)) {
			return KeyInfo{}, fmt.Errorf("%s: %w", line, ErrNotFound)
		}
	}
	return KeyInfo{}, fmt.Errorf("no key %q under %q: %w", id, string(a.k), ErrNotFound)
}

// keyInfos decodes the key records of st and of its document, and
// returns a line for each key record of st left out as invalid.
func (a *Admin) keyInfos(ctx context.Context, st *etcdsync.State) ([]KeyInfo, []string, error) {
	var out []KeyInfo
	live, invalid := st.Live(a.now()) // an invalid record is left out, as the sidecars do
	var bad []string
	for _, line := range invalid {
		if strings.HasPrefix(line, "key record ") {
			bad = append(bad, line)
		}
	}
	for _, ks := range live.Keys {
		out = append(out, KeyInfo{KeySpec: ks, Source: "etcd"})
	}
	if st.Policy != "" {
		doc, err := policy.Load(a.k.Policy(), []byte(st.Policy))
		if err != nil {
			return nil, nil, fmt.Errorf("policy in etcd does not load: %w", err)
		}
		for _, ks := range doc.Keys {
			out = append(out, KeyInfo{KeySpec: ks, Source: "policy"})
		}
		// A record the sidecars leave out (its client gone from the
		// policy, say) authenticates nothing: it must not be listed as
		// valid. The snapshot they compile says which, and why.
		snap, err := policy.Compile(doc, live)
		if err != nil {
			return nil, nil, fmt.Errorf("policy in etcd does not compile: %w", err)
		}
		for i := range out {
			if out[i].Source == "etcd" {
				out[i].Skipped, _ = snap.Skipped(out[i].ID)
			}
		}
	}
	return out, bad, a.annotate(ctx, st, out)
}

// annotate adds mod revisions and revocation records to infos.
func (a *Admin) annotate(ctx context.Context, st *etcdsync.State, infos []KeyInfo) error {
	resp, err := a.cli.Get(ctx, a.k.KeysDir(), clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithRev(st.Revision))
	if err != nil {
		return fmt.Errorf("cannot read key revisions: %w", err)
	}
	revs := map[string]int64{}
	for _, kv := range resp.Kvs {
		revs[strings.TrimPrefix(string(kv.Key), a.k.KeysDir())] = kv.ModRevision
	}
	for i := range infos {
		k := &infos[i]
		if k.Source == "etcd" {
			k.Revision = revs[k.ID]
		}
		if v, ok := st.Revocations[k.ID]; ok {
			k.Revocation = &etcdsync.Revocation{ID: k.ID}
			json.Unmarshal([]byte(v), k.Revocation) // a record that does not decode still revokes
		}
	}
	return nil
}
