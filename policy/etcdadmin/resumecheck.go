package etcdadmin

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EventWrittenBetween returns the revision of a key under events/ or
// events-by/ that etcd holds as last written after
// revision after and at most upto (0: none), so a follower can tell a
// resume revision ahead of the last event its store holds: whoever can
// edit the resume file moved it past events never stored, and a watch
// from there never sends them. A key under events/ is written once, so
// its modification revision is its event's. What etcd no longer holds
// (a key deleted since) is not seen, nor are approval use counters: their
// slots change without an event, and would read as one missed.
func (a *Admin) EventWrittenBetween(ctx context.Context, after, upto int64) (int64, error) {
	if upto <= after {
		return 0, nil
	}
	for _, dir := range []string{a.k.EventsDir(), a.k.EventsByDir()} {
		resp, err := a.cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(1),
			clientv3.WithMinModRev(after+1), clientv3.WithMaxModRev(upto))
		if err != nil {
			return 0, fmt.Errorf("cannot read the events under %q written after revision %d: %w", dir, after, err)
		}
		if len(resp.Kvs) > 0 {
			return resp.Kvs[0].ModRevision, nil
		}
	}
	return 0, nil
}
