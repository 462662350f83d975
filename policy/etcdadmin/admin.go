package etcdadmin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Meta says who makes a change and why. Every change carries it into its
// lifecycle event.
type Meta struct {
	Actor    string
	Reason   string
	Ticket   string
	EtcdUser string // the etcd user the change was written as, if etcd authentication is used; recorded as the event detail DetailEtcdUser
	Approval string // the approval id a change that needs one spends (keys create under lifecycle.privileged_key_approval, a policy push that weakens the two-person controls)
}

// Errors of Admin operations; match them with errors.Is.
var (
	ErrConflict = errors.New("etcdadmin: changed concurrently")
	ErrNotFound = errors.New("etcdadmin: not found")
	ErrExists   = errors.New("etcdadmin: already exists")
)

// attempts bounds the retries of a change whose optimistic transaction lost
// a race with another writer.
const attempts = 5

// Admin changes the policy state of one deployment. Every change is
// validated against the current state and written with its lifecycle event
// in one transaction. Admin is safe for concurrent use; it does not own the
// client.
type Admin struct {
	cli *clientv3.Client
	k   etcdsync.Layout
	now func() time.Time
}

// New returns an Admin for the deployment under prefix ("" means
// etcdsync.DefaultPrefix).
func New(cli *clientv3.Client, prefix string) *Admin {
	return &Admin{cli: cli, k: etcdsync.NewLayout(prefix), now: time.Now}
}

// WithClock returns a copy of a that reads the time from now: the times
// of the events it writes, of the suspensions and key expiries it sets,
// and the observation time of the events it follows. Tests simulate a
// period of activity over days with it.
func (a *Admin) WithClock(now func() time.Time) *Admin {
	c := *a
	c.now = now
	return &c
}

// Prefix returns the deployment prefix the Admin writes under.
func (a *Admin) Prefix() string { return string(a.k) }

// eventOp returns the put of a lifecycle event at now: under the
// directory of meta.EtcdUser in events-by/ when the change is written as
// an etcd user, which binds the event to that user (bindEvent), else
// under events/.
func (a *Admin) eventOp(now time.Time, action, target string, meta Meta, details map[string]string) (clientv3.Op, error) {
	key, err := a.k.Event(now)
	if meta.EtcdUser != "" {
		key, err = a.k.EventBy(meta.EtcdUser, now)
	}
	if err != nil {
		return clientv3.Op{}, err
	}
	if meta.EtcdUser != "" {
		details = maps.Clone(details)
		if details == nil {
			details = map[string]string{}
		}
		details[DetailEtcdUser] = meta.EtcdUser
	}
	ev := Event{Time: now.UTC(), Actor: meta.Actor, Action: action, Target: target, Reason: meta.Reason, Ticket: meta.Ticket, Details: details}
	b, err := json.Marshal(ev)
	if err != nil {
		return clientv3.Op{}, fmt.Errorf("cannot encode %s event for %q: %w", action, target, err)
	}
	return clientv3.OpPut(key, string(b)), nil
}

// commit runs one optimistic transaction: ops when every comparison holds.
// It returns the revision of the change, or 0 when a comparison failed.
// An error whose answer was lost after the request may have reached etcd
// matches ErrWriteUnknown.
func (a *Admin) commit(ctx context.Context, cmps []clientv3.Cmp, ops ...clientv3.Op) (int64, error) {
	resp, err := a.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil && tooLarge(err) {
		// etcd's words name neither the size nor the limit to raise.
		size := 0
		for _, op := range ops {
			size += len(op.KeyBytes()) + len(op.ValueBytes())
		}
		return 0, fmt.Errorf("cannot write to etcd under %q: %v: the change is %s in one transaction, more than one etcd request may carry (etcd's --max-request-bytes, 1.5 MiB by default, and at most 2 MiB from this client); nothing was written: %w",
			string(a.k), err, byteCount(size), ErrTooLarge)
	}
	if err != nil {
		return 0, writeError(err, fmt.Sprintf("cannot write to etcd under %q", string(a.k)), "")
	}
	if !resp.Succeeded {
		return 0, nil
	}
	return resp.Header.Revision, nil
}

// putJSON returns the put of v as JSON at key.
func putJSON(key string, v any, opts ...clientv3.OpOption) (clientv3.Op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return clientv3.Op{}, fmt.Errorf("cannot encode record %q: %w", key, err)
	}
	return clientv3.OpPut(key, string(b), opts...), nil
}

// current reads the state and parses its policy document.
func (a *Admin) current(ctx context.Context) (*etcdsync.State, *policy.Document, error) {
	st, err := etcdsync.ReadState(ctx, a.cli, a.k)
	if err != nil {
		return nil, nil, err
	}
	if st.Policy == "" {
		return st, nil, fmt.Errorf("no policy at %q: push one first: %w", a.k.Policy(), ErrNotFound)
	}
	doc, err := policy.Load(a.k.Policy(), []byte(st.Policy))
	if err != nil {
		return st, nil, fmt.Errorf("policy in etcd at revision %d does not load: %w", st.PolicyRevision, err)
	}
	return st, doc, nil
}

// PushPolicy validates doc (policy.Load, then policy.Compile against the
// key records, revocations and suspensions in etcd) and makes it the
// policy, with a history entry and a policy.push event. expectRevision > 0
// refuses the push (ErrConflict) unless the policy in etcd is still at that
// revision, so two operators cannot overwrite each other. A validation
// failure is a *policy.Error naming "policy". A push that weakens the
// two-person controls of the policy in force (policy.Weakenings) spends
// a use of meta.Approval, which must be granted for this document
// (PolicyPushRoute), in the transaction that writes it; one that does not
// must name none (ErrNotApproved). It returns the revision of the push.
func (a *Admin) PushPolicy(ctx context.Context, doc []byte, expectRevision int64, meta Meta) (int64, error) {
	parsed, err := policy.Load("policy", doc)
	if err != nil {
		return 0, err
	}
	if err := policy.CheckPush("policy", doc, parsed); err != nil {
		return 0, err
	}
	for range attempts {
		st, err := etcdsync.ReadState(ctx, a.cli, a.k)
		if err != nil {
			return 0, err
		}
		if expectRevision > 0 && st.PolicyRevision != expectRevision {
			return 0, fmt.Errorf("policy is at revision %d, not the expected %d: %w", st.PolicyRevision, expectRevision, ErrConflict)
		}
		if err := pushTicketed(st, meta); err != nil { // lifecycle.go
			return 0, err
		}
		rev, err := a.pushAt(ctx, st, parsed, doc, meta)
		if errors.Is(err, ErrTooLarge) {
			return 0, fmt.Errorf("the document is %s and a push writes it twice, as the policy and its history entry: %w", byteCount(len(doc)), err)
		}
		if rev != 0 || err != nil {
			return rev, err
		}
	}
	return 0, fmt.Errorf("policy push lost %d races with other writers: %w", attempts, ErrConflict)
}

// pushAt compiles parsed against st and writes doc if nothing it depends on
// changed since st was read; it returns 0 when something did.
func (a *Admin) pushAt(ctx context.Context, st *etcdsync.State, parsed *policy.Document, doc []byte, meta Meta) (int64, error) {
	now := a.now()
	live, _ := st.Live(now) // an invalid record is left out, as the sidecars do
	if err := keyIDsFree(parsed, st, live); err != nil {
		return 0, err
	}
	if _, err := policy.Compile(parsed, live); err != nil {
		return 0, fmt.Errorf("policy does not compile with the live state at revision %d: %w", st.Revision, err)
	}
	sum := sha256.Sum256(doc)
	digest := hex.EncodeToString(sum[:])
	useCmps, useOps, err := a.pushApproval(ctx, st, parsed, digest, meta) // pushapproval.go
	if err != nil {
		return 0, err
	}
	details := map[string]string{"digest": digest, "previous_revision": strconv.FormatInt(st.PolicyRevision, 10),
		"read_revision": strconv.FormatInt(st.Revision, 10), "weakening_rules": strconv.Itoa(policy.WeakeningRules)}
	if len(useOps) > 0 {
		details["approval"] = meta.Approval
	}
	hist, err := putJSON(a.k.History(st.Revision+1), HistoryEntry{Time: now.UTC(), Actor: meta.Actor, Reason: meta.Reason, Ticket: meta.Ticket, Digest: digest, Document: string(doc)})
	if err != nil {
		return 0, err
	}
	ev, err := a.eventOp(now, ActionPolicyPush, a.k.Policy(), meta, details)
	if err != nil {
		return 0, err
	}
	cmps := []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(a.k.Policy()), "=", st.PolicyRevision),
		clientv3.Compare(clientv3.ModRevision(a.k.KeysDir()), "<", st.Revision+1).WithPrefix(),
	}
	return a.commit(ctx, append(cmps, useCmps...), append([]clientv3.Op{clientv3.OpPut(a.k.Policy(), string(doc)), hist, ev}, useOps...)...)
}

// keyIDsFree refuses a document with a key whose id is a key record in
// etcd (st), but for that record moved into the document (the same client
// and SHA-256, as live decoded it). The sidecars keep the document's key
// and leave the record out, so a push took the id over: the created key
// stopped working, and another secret, of another client, was audited
// under its id (TestPushRefusesAKeyIDOfAnEtcdKey).
func keyIDsFree(doc *policy.Document, st *etcdsync.State, live policy.Live) error {
	for _, dk := range doc.Keys {
		if _, ok := st.Keys[dk.ID]; !ok {
			continue
		}
		i := slices.IndexFunc(live.Keys, func(k policy.KeySpec) bool { return k.ID == dk.ID })
		if i < 0 || live.Keys[i].Client != dk.Client || !strings.EqualFold(live.Keys[i].SHA256, dk.SHA256) {
			return fmt.Errorf("key %q of the document is the id of a key record in etcd (keys show %s), another key: a key id names one key; give the document's key another id, or revoke the record: %w", dk.ID, dk.ID, ErrExists)
		}
	}
	return nil
}

// GetPolicy returns the policy document in etcd and the revision it was
// pushed at, or ErrNotFound.
func (a *Admin) GetPolicy(ctx context.Context) (doc []byte, rev int64, err error) {
	resp, err := a.cli.Get(ctx, a.k.Policy())
	if err != nil {
		return nil, 0, fmt.Errorf("cannot read %q: %w", a.k.Policy(), err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, fmt.Errorf("no policy at %q: %w", a.k.Policy(), ErrNotFound)
	}
	return resp.Kvs[0].Value, resp.Kvs[0].ModRevision, nil
}

// DiffPolicy compares doc (named name) with the policy in etcd and returns
// a line diff from etcd's to doc, empty when they are the same. With no
// policy in etcd every line of doc is an addition.
func (a *Admin) DiffPolicy(ctx context.Context, name string, doc []byte) (string, error) {
	cur, rev, err := a.GetPolicy(ctx)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	return Diff(fmt.Sprintf("%s@%d", a.k.Policy(), rev), name, string(cur), string(doc)), nil
}

// PolicyHistory returns the pushed documents, oldest first; limit > 0
// returns only the newest limit of them.
func (a *Admin) PolicyHistory(ctx context.Context, limit int) ([]HistoryEntry, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	resp, err := a.cli.Get(ctx, a.k.HistoryDir(), opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot read policy history under %q: %w", a.k.HistoryDir(), err)
	}
	out := make([]HistoryEntry, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		e := &out[len(out)-1-i]
		if err := json.Unmarshal(kv.Value, e); err != nil {
			return nil, fmt.Errorf("cannot decode history entry %q: %w", kv.Key, err)
		}
		e.Revision = kv.ModRevision
	}
	return out, nil
}
