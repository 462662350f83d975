package etcdadmin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrHeadBehind is returned (wrapped) by PublishHead for a head older than
// the one already published: the store it comes from was rolled back.
var ErrHeadBehind = errors.New("etcdadmin: audit head behind the published one")

// ErrHeadForked is returned (wrapped) by PublishHead for a head that names
// the entry already published with another hash: the store it comes from
// is not the chain the published head vouches for.
var ErrHeadForked = errors.New("etcdadmin: audit head forks from the published one")

// headSeq is the part of a signed audit head PublishHead compares; the
// audit package signs and checks the rest.
type headSeq struct {
	Payload struct {
		Seq  uint64 `json:"seq"`
		Hash string `json:"hash"`
	} `json:"payload"`
}

// What the collector does after a head's write whose answer was lost
// (collector.Store.RunHeadSigner publishes at every --sign-every tick; the
// final head at shutdown once).
const (
	publishNext = "a running collector signs and publishes a newer head at its next --sign-every tick, which replaces this one whether or not it was applied; " +
		"the final head at shutdown is not tried again, so the anchor holds it or the head before"
	replaceNext = "a running collector tries again at its next --sign-every tick; if this one was applied, that try finds it there, knows it as its own and publishes on from it"
)

// PublishHead stores head (a signed audit head document) at
// <prefix>/audit/head unless the head already there names a later entry,
// or the same entry with another hash: a collector restarted on an older
// copy of its store must not reset the anchor it will be checked against,
// nor move it onto its own chain once that reaches the published seq.
// etcd keeps every head published in the key's revisions.
func (a *Admin) PublishHead(ctx context.Context, head []byte) error {
	var next headSeq
	if err := json.Unmarshal(head, &next); err != nil {
		return fmt.Errorf("cannot parse the audit head to publish: %w", err)
	}
	key := a.k.AuditHead()
	for range attempts {
		resp, err := a.cli.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("cannot read %q: %w", key, err)
		}
		cmp := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
		if len(resp.Kvs) > 0 {
			var cur headSeq
			if json.Unmarshal(resp.Kvs[0].Value, &cur) == nil {
				c, n := cur.Payload, next.Payload
				switch {
				case c.Seq > n.Seq:
					return fmt.Errorf("%w: %q names seq %d, this head seq %d", ErrHeadBehind, key, c.Seq, n.Seq)
				case c.Seq == n.Seq && c.Hash != n.Hash:
					//lint:ignore ST1005 the "..." marks a hash cut to 16 digits, not punctuation
					return fmt.Errorf("%w: %q names seq %d with hash %.16s..., this head seq %d with hash %.16s...", ErrHeadForked, key, c.Seq, c.Hash, n.Seq, n.Hash)
				}
			}
			cmp = clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)
		}
		tx, err := a.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, string(head))).Commit()
		if err != nil {
			return writeError(err, fmt.Sprintf("cannot write %q", key), publishNext)
		}
		if tx.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrConflict, key)
}

// ReplaceHead stores head at <prefix>/audit/head in place of old (nil:
// no head there), whatever their seqs, as long as old is still the value
// there, compared in the write's transaction: the collector publishes
// each head so, in place of the one it last wrote or found there, so that
// another collector's head is never overwritten unseen
// (collector.Store.PublishChecked); it replaces a published head its
// store does not hold only after recording the rollback in its chain
// (portcullis collector --accept-rollback). The head replaced stays in
// the key's revision history.
func (a *Admin) ReplaceHead(ctx context.Context, old, head []byte) error {
	key := a.k.AuditHead()
	cmp := clientv3.Compare(clientv3.Value(key), "=", string(old))
	if old == nil {
		cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	}
	tx, err := a.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, string(head))).Commit()
	if err != nil {
		return writeError(err, fmt.Sprintf("cannot write %q", key), replaceNext)
	}
	if !tx.Succeeded {
		return fmt.Errorf("%w: %q changed since it was checked; not replacing it", ErrConflict, key)
	}
	return nil
}

// ReadHead returns the signed audit head published under the prefix, nil
// when none is.
func (a *Admin) ReadHead(ctx context.Context) ([]byte, error) {
	doc, err := a.AuditHead(ctx)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return doc, err
}

// Where names the key the audit head is published at.
func (a *Admin) Where() string { return "etcd key " + a.k.AuditHead() }

// AuditHead returns the signed audit head published under the prefix.
func (a *Admin) AuditHead(ctx context.Context) ([]byte, error) {
	key := a.k.AuditHead()
	resp, err := a.cli.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("%w: no audit head published at %q", ErrNotFound, key)
	}
	return resp.Kvs[0].Value, nil
}

// PublishedHeads returns every put of <prefix>/audit/head that etcd's
// history still holds (from its compact revision on), oldest first. The
// head there now is no proof on its own: one with the operator's etcd
// role can put an older head back (etcd keeps each), beside a store
// rolled back to it, and the pair agree; the newest head ever put is
// what the store must hold (collector.NewestPut: the collector's start,
// audit verify, evidence pack).
func (a *Admin) PublishedHeads(ctx context.Context) ([]HeadPut, error) {
	key := a.k.AuditHead()
	resp, err := a.cli.Get(ctx, key, clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", key, err)
	}
	var heads []HeadPut
	add := func(ev *clientv3.Event) {
		if ev.Type == clientv3.EventTypePut {
			heads = append(heads, HeadPut{ev.Kv.ModRevision, ev.Kv.Value})
		}
	}
	for from := int64(1); ; {
		heads = heads[:0]
		_, compacted, err := a.watchHistory(ctx, key, false, from, resp.Header.Revision, add)
		if err != nil || compacted == 0 {
			return heads, err
		}
		from = compacted
	}
}
