package etcdsync

import (
	"context"
	"encoding/json"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// FollowEvents calls fn with every lifecycle event written after revision
// from, oldest first, as they happen, until ctx ends or fn fails. It starts
// with the events already stored (so a collector that was down catches up)
// and then watches. fn gets each event with its etcd revision; a caller
// that records the last revision it stored can resume from it without
// duplicates.
func (a *Admin) FollowEvents(ctx context.Context, from int64, fn func([]Event) error) error {
	dir := a.k.dir(eventsDir)
	resp, err := a.cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithMinModRev(from+1), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortAscend))
	if err != nil {
		return fmt.Errorf("cannot read events under %q: %w", dir, err)
	}
	var batch []Event
	for _, kv := range resp.Kvs {
		var ev Event
		if json.Unmarshal(kv.Value, &ev) == nil {
			ev.Revision = kv.ModRevision
			batch = append(batch, ev)
		}
	}
	if len(batch) > 0 {
		if err := fn(batch); err != nil {
			return err
		}
	}
	wc := a.cli.Watch(clientv3.WithRequireLeader(ctx), dir, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	for wr := range wc {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watching events under %q: %w", dir, err)
		}
		batch = batch[:0]
		for _, e := range wr.Events {
			var ev Event
			if e.Type == clientv3.EventTypePut && json.Unmarshal(e.Kv.Value, &ev) == nil {
				ev.Revision = e.Kv.ModRevision
				batch = append(batch, ev)
			}
		}
		if len(batch) > 0 {
			if err := fn(batch); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}
