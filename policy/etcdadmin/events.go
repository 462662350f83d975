package etcdadmin

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ListEvents returns the lifecycle events from from (inclusive) to to
// (exclusive; zero: no end), oldest first, each with the etcd revision of
// its change. Zero times are open ends. The approval uses are among them,
// as the collector records them (readUse), by the time of their use. The
// audit collector and the evidence pack read them.
//
// An event under events-by/<user>/ binds its directory's etcd user only
// when etcd's authentication is proven on since before it was written,
// as the follower binds it (authstatus.go); otherwise the user is only
// claimed and the event flagged FlagAuthOff. A single read proves
// authentication on from that read only, so ListEvents, which keeps no
// AuthMark, binds none of the events it lists: ListEventsAuth takes the
// mark a follower kept (TestListEventsUnprovenForAnEventWrittenWhileAuthWasOff).
func (a *Admin) ListEvents(ctx context.Context, from, to time.Time) ([]Event, error) {
	return a.ListEventsAuth(ctx, from, to, AuthMark{})
}

// ListEventsAuth is ListEvents for a caller that kept mark, what a
// follower proved of etcd's authentication (Witnesses.Auth): an event
// under events-by/ written after mark.After binds its directory's user
// when etcd's authentication is still on at mark's auth revision (it was
// not turned off since).
func (a *Admin) ListEventsAuth(ctx context.Context, from, to time.Time, mark AuthMark) ([]Event, error) {
	out, err := a.storedEvents(ctx, from, to)
	if err != nil {
		return nil, err
	}
	a.unbindUnproven(ctx, out, mark)
	uses, err := a.listUses(ctx, from, to)
	if err != nil {
		return nil, err
	}
	out = append(out, uses...)
	// Keys sort by the event's time, which a change may round down to the
	// second (key.create); the revision is the order of the changes.
	slices.SortStableFunc(out, func(x, y Event) int { return cmp.Compare(x.Revision, y.Revision) })
	return out, nil
}

// storedEvents returns the events under events/ and events-by/ from from
// to to, in the order of their keys' times, each with the etcd user of
// its key (bindEvent) and its flag, when it has one, in Unverified; the
// etcd user is not checked against etcd's authentication (ListEventsAuth
// does: unbindUnproven).
func (a *Admin) storedEvents(ctx context.Context, from, to time.Time) ([]Event, error) {
	end := clientv3.GetPrefixRangeEnd(a.k.EventsDir())
	if !to.IsZero() {
		end = a.k.EventBound(to)
	}
	start := a.k.EventsDir()
	if !from.IsZero() {
		start = a.k.EventBound(from)
	}
	resp, err := a.cli.Get(ctx, start, clientv3.WithRange(end))
	if err != nil {
		return nil, fmt.Errorf("cannot read events under %q: %w", a.k.EventsDir(), err)
	}
	by, err := a.eventsByBetween(ctx, from, to) // eventsby.go
	if err != nil {
		return nil, err
	}
	kvs := append(resp.Kvs, by...)
	out := make([]Event, len(kvs))
	for i, kv := range kvs {
		if err := json.Unmarshal(kv.Value, &out[i]); err != nil {
			return nil, fmt.Errorf("cannot decode event %q: %w", kv.Key, err)
		}
		out[i].Revision, out[i].Key = kv.ModRevision, string(kv.Key)
		out[i].Unverified = a.bindEvent(out[i].Key, &out[i])
	}
	slices.SortStableFunc(out, func(x, y Event) int {
		sx, _ := a.k.EventSuffix(x.Key)
		sy, _ := a.k.EventSuffix(y.Key)
		return cmp.Compare(sx, sy)
	})
	return out, nil
}

// unbindUnproven unbinds (unbindAuthOff) the etcd user of every event of
// evs under events-by/ that etcd's authentication is not proven on at, as
// one read of its status, after the events were read, and mark, kept from
// before, prove it (authSeen).
func (a *Admin) unbindUnproven(ctx context.Context, evs []Event, mark AuthMark) {
	s := &authSeen{seed: mark}
	s.update(ctx, a)
	for i := range evs {
		if why := s.unbound(evs[i].Revision); why != "" {
			a.unbindAuthOff(&evs[i], why)
		}
	}
}

// Members returns the member records of the sidecars that are up. A
// record that does not decode is left out; MemberRecords names it.
func (a *Admin) Members(ctx context.Context) ([]etcdsync.Member, error) {
	out, _, err := a.MemberRecords(ctx)
	return out, err
}

// MemberRecords returns the member records that decode and a line for
// each that does not, so that one bad record hides no other sidecar.
func (a *Admin) MemberRecords(ctx context.Context) ([]etcdsync.Member, []string, error) {
	resp, err := a.cli.Get(ctx, a.k.MembersDir(), clientv3.WithPrefix())
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read members under %q: %w", a.k.MembersDir(), err)
	}
	out := make([]etcdsync.Member, 0, len(resp.Kvs))
	var bad []string
	for _, kv := range resp.Kvs {
		m, err := etcdsync.DecodeMember(kv.Value)
		if err != nil {
			bad = append(bad, fmt.Sprintf("member record %q is invalid: %v", kv.Key, err))
			continue
		}
		out = append(out, m)
	}
	return out, bad, nil
}
