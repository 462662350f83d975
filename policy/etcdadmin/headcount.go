package etcdadmin

import (
	"bytes"
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// HeadCount is what etcd counts of <prefix>/audit/head, which no client
// can rewrite: a put moves both on, and only a delete starts them again.
// The collector signs into each head it publishes there the count the
// key has once that head is put (collector.Store.PublishChecked), so a
// head read back with another count than the key's was put back there
// by someone else, however old the history etcd still keeps.
type HeadCount struct {
	// Puts is the key's version: the puts since it was created.
	Puts int64
	// Created is the key's create revision; 0 when there is no key.
	Created int64
}

// CountedHead returns the signed audit head published under the prefix
// (nil when none is) and the key's count as it was read with it.
func (a *Admin) CountedHead(ctx context.Context) ([]byte, HeadCount, error) {
	kv, err := a.headKV(ctx)
	if err != nil || kv == nil {
		return nil, HeadCount{}, err
	}
	return kv.Value, HeadCount{Puts: kv.Version, Created: kv.CreateRevision}, nil
}

// headKV reads <prefix>/audit/head, nil when there is none.
func (a *Admin) headKV(ctx context.Context) (*mvccpb.KeyValue, error) {
	key := a.k.AuditHead()
	resp, err := a.cli.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0], nil
}

// ReplaceCountedHead is ReplaceHead with the head made by sign, given
// the count the key will have once it is put (Puts one more than now,
// 1 for the put that creates the key; Created the key's create revision,
// 0 for that put). It returns the document made, even when the write
// failed or its answer was lost (nil when sign was not called). The
// transaction compares the key's mod revision, which any put or delete
// since it was read moves, so the count signed is the count written.
func (a *Admin) ReplaceCountedHead(ctx context.Context, old []byte, sign func(HeadCount) ([]byte, error)) ([]byte, error) {
	key := a.k.AuditHead()
	kv, err := a.headKV(ctx)
	if err != nil {
		return nil, err
	}
	cmp := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	var n HeadCount
	if kv != nil {
		cmp = clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)
		n = HeadCount{Puts: kv.Version, Created: kv.CreateRevision}
	}
	if (kv == nil) != (old == nil) || kv != nil && !bytes.Equal(kv.Value, old) {
		return nil, fmt.Errorf("%w: %q changed since it was checked; not replacing it", ErrConflict, key)
	}
	head, err := sign(HeadCount{Puts: n.Puts + 1, Created: n.Created})
	if err != nil {
		return nil, err
	}
	tx, err := a.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, string(head))).Commit()
	if err != nil {
		return head, writeError(err, fmt.Sprintf("cannot write %q", key), replaceNext)
	}
	if !tx.Succeeded {
		return head, fmt.Errorf("%w: %q changed since it was checked; not replacing it", ErrConflict, key)
	}
	return head, nil
}
