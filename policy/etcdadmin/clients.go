package etcdadmin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Suspend suspends client for d (rounded up to whole seconds, at least
// one): every credential of the client is refused until then. The record
// sits on a lease of d, so the suspension lifts itself without any further
// write; suspending a suspended client replaces its suspension (one
// shortened so is recorded as resumed, resumptionOp). The client must
// exist in the policy in etcd.
func (a *Admin) Suspend(ctx context.Context, client string, d time.Duration, meta Meta) (etcdsync.Suspension, error) {
	return a.suspend(ctx, client, d, meta, false)
}

// SuspendAtLeast is Suspend for containment: a suspension of client that
// lasts longer than d is kept as it is (and returned), never shortened,
// so an alert whose rule suspends for 15 minutes cannot cut an operator's
// suspension of a day to 15 minutes. The keep is atomic with the read: a
// suspension written meanwhile makes it try again.
func (a *Admin) SuspendAtLeast(ctx context.Context, client string, d time.Duration, meta Meta) (etcdsync.Suspension, error) {
	return a.suspend(ctx, client, d, meta, true)
}

// suspend is Suspend, keeping a longer suspension when atLeast.
func (a *Admin) suspend(ctx context.Context, client string, d time.Duration, meta Meta, atLeast bool) (etcdsync.Suspension, error) {
	if d <= 0 {
		return etcdsync.Suspension{}, fmt.Errorf("suspension of %q for %s: want a positive duration", client, d)
	}
	ttl := int64((d + time.Second - 1) / time.Second)
	for range attempts {
		st, doc, err := a.current(ctx)
		if err != nil {
			return etcdsync.Suspension{}, err
		}
		if !hasClient(doc, client) {
			return etcdsync.Suspension{}, fmt.Errorf("client %q is not in the policy at revision %d: %w", client, st.PolicyRevision, ErrNotFound)
		}
		if err := ticketed(doc, ActionClientSuspend, client, meta); err != nil { // lifecycle.go
			return etcdsync.Suspension{}, err
		}
		s, ok, err := a.suspendAt(ctx, st, client, ttl, meta, atLeast)
		if ok || err != nil {
			return s, err
		}
	}
	return etcdsync.Suspension{}, fmt.Errorf("suspension of %q lost %d races: %w", client, attempts, ErrConflict)
}

// suspendAt grants the lease and writes the suspension if the policy is
// still the one st holds; it reports whether it did. With atLeast, a
// suspension lasting past the new one is kept, and the write requires the
// suspension read to be the one in etcd.
func (a *Admin) suspendAt(ctx context.Context, st *etcdsync.State, client string, ttl int64, meta Meta, atLeast bool) (etcdsync.Suspension, bool, error) {
	prev, err := a.cli.Get(ctx, a.k.Suspension(client))
	if err != nil {
		return etcdsync.Suspension{}, false, fmt.Errorf("cannot read suspension of %q: %w", client, err)
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(a.k.Policy()), "=", st.PolicyRevision)}
	if atLeast {
		if old, ok := longerSuspension(prev, a.now().Add(time.Duration(ttl)*time.Second)); ok {
			return old, true, nil
		}
	}
	// The suspension read is the one replaced: its lease is released
	// after, and a shortened one's resumption written (below). A
	// suspension resumed meanwhile left its resumption on that lease,
	// which the release took with it.
	var rev int64
	if len(prev.Kvs) > 0 {
		rev = prev.Kvs[0].ModRevision
	}
	cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(a.k.Suspension(client)), "=", rev))
	lease, err := a.cli.Grant(ctx, ttl)
	if err != nil {
		return etcdsync.Suspension{}, false, fmt.Errorf("cannot grant a %ds lease for suspension of %q: %w", ttl, client, err)
	}
	now := a.now()
	s := etcdsync.Suspension{Client: client, Actor: meta.Actor, Reason: meta.Reason, Ticket: meta.Ticket, Time: now.UTC(), Until: now.Add(time.Duration(ttl) * time.Second).UTC(), AtLeast: atLeast}
	put, err := putJSON(a.k.Suspension(client), s, clientv3.WithLease(lease.ID))
	if err != nil {
		return s, false, err
	}
	ev, err := a.eventOp(now, ActionClientSuspend, client, meta, map[string]string{"until": s.Until.Format(time.RFC3339)})
	if err != nil {
		return s, false, err
	}
	ops := []clientv3.Op{put, ev}
	var release clientv3.LeaseID // the replaced suspension's lease
	if len(prev.Kvs) > 0 {
		release = clientv3.LeaseID(prev.Kvs[0].Lease)
		// A suspension shortened (replaced by one ending sooner: never
		// atLeast) is resumed as it is replaced: a sidecar that last
		// applied it and reads etcd whole once the shorter one ran out
		// finds it gone before its until, and without a resumption held
		// the client refused until then (TestShortenedSuspensionNotHeld).
		if old, err := etcdsync.DecodeSuspension(string(prev.Kvs[0].Value)); err == nil && !atLeast && old.Until.After(s.Until) {
			rput, rcmp, spare, err := a.resumptionOp(ctx, client, old, release, now, meta)
			if err != nil {
				a.releaseLease(context.WithoutCancel(ctx), lease.ID) // unused
				return s, false, err
			}
			ops, cmps, release = append(ops, rput), append(cmps, rcmp), spare
		}
	}
	rev, err = a.commit(ctx, cmps, ops...)
	if rev == 0 {
		a.releaseLease(context.WithoutCancel(ctx), lease.ID) // unused
		return s, false, err
	}
	if release != 0 {
		a.releaseLease(ctx, release)
	}
	return s, true, nil
}

// longerSuspension returns the suspension of resp when it lasts until
// after until. A record that does not decode is no suspension to keep: it
// is replaced by a valid one.
func longerSuspension(resp *clientv3.GetResponse, until time.Time) (etcdsync.Suspension, bool) {
	if len(resp.Kvs) == 0 {
		return etcdsync.Suspension{}, false
	}
	s, err := etcdsync.DecodeSuspension(string(resp.Kvs[0].Value))
	if err != nil || !s.Until.After(until) {
		return etcdsync.Suspension{}, false
	}
	return s, true
}

// Resume lifts the suspension of client before it lapses, with a
// client.resume event. It returns ErrNotFound if client is not suspended.
func (a *Admin) Resume(ctx context.Context, client string, meta Meta) error {
	if err := a.needTicket(ctx, ActionClientResume, client, meta); err != nil { // lifecycle.go
		return err
	}
	resp, err := a.cli.Get(ctx, a.k.Suspension(client))
	if err != nil {
		return fmt.Errorf("cannot read suspension of %q: %w", client, err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("client %q is not suspended in etcd (if the sidecars hold a suspension of it since etcd went back, their error line names it: suspend it again, then resume it): %w", client, ErrNotFound)
	}
	kv := resp.Kvs[0]
	now := a.now()
	ev, err := a.eventOp(now, ActionClientResume, client, meta, nil)
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpDelete(a.k.Suspension(client)), ev}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(a.k.Suspension(client)), "=", kv.ModRevision)}
	// The resumption tells a sidecar that finds the suspension gone on a
	// read whole (restarted, or its watch resumed past a compaction) that
	// it was lifted, not lost by etcd going back, which the sidecar holds
	// in force (etcdsync.Resumption). It sits on the suspension's lease,
	// so it goes when the suspension would have; one that does not decode
	// has no until a sidecar would hold it to, and needs none.
	var unused clientv3.LeaseID
	if sp, err := etcdsync.DecodeSuspension(string(kv.Value)); err == nil {
		put, cmp, spare, err := a.resumptionOp(ctx, client, sp, clientv3.LeaseID(kv.Lease), now, meta)
		if err != nil {
			return err
		}
		ops, cmps, unused = append(ops, put), append(cmps, cmp), spare
	}
	rev, err := a.commit(ctx, cmps, ops...)
	if err != nil {
		return err
	}
	if rev == 0 {
		return fmt.Errorf("suspension of %q changed while resuming: %w", client, ErrConflict)
	}
	if unused != 0 {
		a.releaseLease(ctx, unused) // the lifted suspension's, which now holds nothing
	}
	return nil
}

// resumptionOp returns the put of the resumption of sp, client's
// suspension on lease (0: none), lifted at now, and the compare that the
// resumption etcd holds for the client is still the one read. One etcd
// holds that outlives sp (a longer suspension resumed before sp was
// written) keeps its until and lease: replaced on sp's lease, it went at
// sp's until, and a sidecar that last applied the longer one held the
// resumed client refused until its until
// (TestEarlierResumptionOutlivesLaterShorterOne). spare is then sp's
// lease, which holds nothing the resumption needs.
func (a *Admin) resumptionOp(ctx context.Context, client string, sp etcdsync.Suspension, lease clientv3.LeaseID, now time.Time, meta Meta) (put clientv3.Op, cmp clientv3.Cmp, spare clientv3.LeaseID, err error) {
	cur, err := a.cli.Get(ctx, a.k.Resumption(client))
	if err != nil {
		return put, cmp, 0, fmt.Errorf("cannot read resumption of %q: %w", client, err)
	}
	r := etcdsync.Resumption{Client: client, Actor: meta.Actor, Time: now.UTC(), Suspended: sp.Time, Until: sp.Until}
	var rev int64
	if len(cur.Kvs) > 0 {
		kv := cur.Kvs[0]
		rev = kv.ModRevision
		var old etcdsync.Resumption
		if json.Unmarshal(kv.Value, &old) == nil && old.Client == client && kv.Lease != 0 && lease != 0 && old.Until.After(sp.Until) {
			r.Until, spare, lease = old.Until, lease, clientv3.LeaseID(kv.Lease)
			if old.Suspended.After(r.Suspended) {
				r.Suspended = old.Suspended
			}
		}
	}
	var opts []clientv3.OpOption
	if lease != 0 {
		opts = append(opts, clientv3.WithLease(lease))
	}
	put, err = putJSON(a.k.Resumption(client), r, opts...)
	return put, clientv3.Compare(clientv3.ModRevision(a.k.Resumption(client)), "=", rev), spare, err
}

// releaseLease revokes a lease that holds nothing any more. Its error is
// dropped on purpose: the change is committed by then, and a lease left
// unrevoked expires at its TTL, so a failure here fails nothing.
func (a *Admin) releaseLease(ctx context.Context, id clientv3.LeaseID) {
	_, _ = a.cli.Revoke(ctx, id)
}

// Suspensions returns the current suspensions, by client.
func (a *Admin) Suspensions(ctx context.Context) (map[string]etcdsync.Suspension, error) {
	resp, err := a.cli.Get(ctx, a.k.SuspensionsDir(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("cannot read suspensions: %w", err)
	}
	out := map[string]etcdsync.Suspension{}
	for _, kv := range resp.Kvs {
		name := strings.TrimPrefix(string(kv.Key), a.k.SuspensionsDir())
		s, err := etcdsync.DecodeSuspension(string(kv.Value))
		if err != nil {
			// The sidecars treat it as suspended (fail closed), so it is listed.
			s = etcdsync.Suspension{Client: name, Reason: "invalid suspension record: " + err.Error()}
		}
		out[name] = s
	}
	return out, nil
}
