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

// headSeq is the part of a signed audit head PublishHead compares; the
// audit package signs and checks the rest.
type headSeq struct {
	Payload struct {
		Seq uint64 `json:"seq"`
	} `json:"payload"`
}

// PublishHead stores head (a signed audit head document) at
// <prefix>/audit/head unless the head already there names a later entry:
// a collector restarted on an older copy of its store must not reset the
// anchor it will be checked against.
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
			if json.Unmarshal(resp.Kvs[0].Value, &cur) == nil && cur.Payload.Seq > next.Payload.Seq {
				return fmt.Errorf("%w: %q names seq %d, this head seq %d", ErrHeadBehind, key, cur.Payload.Seq, next.Payload.Seq)
			}
			cmp = clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision)
		}
		tx, err := a.cli.Txn(ctx).If(cmp).Then(clientv3.OpPut(key, string(head))).Commit()
		if err != nil {
			return fmt.Errorf("cannot write %q: %w", key, err)
		}
		if tx.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrConflict, key)
}

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
