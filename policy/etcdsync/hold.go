package etcdsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultHoldTTL is how long a reserved use is held when LedgerConfig
// says nothing: longer than a request waits between Reserve and Commit
// (an upstream connection, at most the data plane's upstream timeout of
// 30s, and a dial), so that a held use is not lost to its own request.
// Outlasts checks it against the data plane's wait, which New of the data
// plane asks: a longer upstream timeout fails there rather than silently.
const DefaultHoldTTL = 60 * time.Second

// Outlasts returns an error unless a use held (HoldTTL) outlasts wait, the
// longest a request waits between Reserve and Commit
// (dataplane.ApprovalWait), with the etcd round trips of Reserve and
// Commit (each bounded by Timeout) on top: the slot's lease runs from
// Reserve's grant to Commit's transaction.
func (l *Ledger) Outlasts(wait time.Duration) error {
	if need := wait + 2*l.cfg.Timeout; l.cfg.HoldTTL <= need {
		return fmt.Errorf("approval holds of %s (LedgerConfig.HoldTTL) lapse before a request waiting %s between reserving a use and spending it, and two etcd round trips of %s, can spend it; hold them longer than %s",
			l.cfg.HoldTTL, wait, l.cfg.Timeout, need)
	}
	return nil
}

// Hold is one use of an approval reserved for a request (Ledger.Reserve):
// slot n of the approval, approval-uses/<id>/slots/<n> for n from 1 to
// max_uses, put where no slot was, on a lease of HoldTTL of its own.
// Commit spends the use: in one transaction, the counter's put that
// counts it (UseWrite) and the slot's put onto the grant's uses lease,
// where it stays, taken, for as long as the counter. Release revokes the
// lease, which deletes the slot: the use goes back. A sidecar that dies
// holding one never releases it; the lease lapses and the use goes back
// then.
//
// So every slot is free, held or spent, a request holds a use only in a
// free slot, and a grant has max_uses slots: the uses held and spent
// never pass max_uses, across every sidecar, and each held one can be
// spent. The counter still decides: Commit requires it at the version
// read and below max_uses, as a use always has, so slots deleted by hand
// (a sidecar's etcd role can) give no use back either; they only let a
// reservation through that Commit then refuses.
type Hold struct {
	l             *Ledger
	id            string
	client, route string
	use           ApprovalUse
	e             ledgerEntry // the record and counter the reservation was decided on
	c             Counter
	slot          int
	lease         clientv3.LeaseID
	rev           int64 // the slot's mod revision: the reservation's put
}

// Reserve holds one use of the approval id for client on route (a
// policy.Route.RouteName) at now, and returns the hold, or nil when the
// approval does not admit the request: unknown, pending, denied,
// expired, for another client or route, every use spent or held by
// other requests, or etcd not answering (fail closed). requestID goes
// into the use record. The watched record and counter save a round trip
// (as a use always did); a record not watched yet, or one the watched copy
// refuses, is read from etcd before deciding. The caller must end the
// hold with Commit or Release.
func (l *Ledger) Reserve(id []byte, client, route string, requestID []byte, now time.Time) *Hold {
	if !ValidApprovalID(id) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Timeout)
	defer cancel()
	h := &Hold{l: l, id: string(id), client: client, route: route,
		use: ApprovalUse{Client: client, Route: route, RequestID: string(requestID), Sidecar: l.cfg.Pod, Time: now.UTC()}}
	st := l.state.Load()
	e, watched := st.records.get(h.id)
	c, _ := st.counters.get(h.id)
	fresh := false
	var taken map[int]bool // the slots read taken; nil until read
	for range consumeAttempts {
		if !watched && !fresh {
			var ok bool
			if e, c, ok = l.fetch(ctx, h.id); !ok {
				return h.drop()
			}
			fresh = true
		}
		a, ok := l.decide(&st, h.id, e, c, fresh, client, route, now)
		if !ok {
			if fresh {
				return h.drop()
			}
			watched = false // decide on the record in etcd
			continue
		}
		n := freeSlot(&a, taken)
		if n == 0 {
			return h.drop() // every use spent or held by another request
		}
		if h.lease == 0 && !h.grant(ctx) {
			return nil
		}
		var done bool
		e, c, taken, done, ok = h.try(ctx, &a, e, c, n)
		if done {
			if ok {
				return h
			}
			return h.drop()
		}
		fresh = true
	}
	l.cfg.Logger.Warn().Str("approval", h.id).Msg("approval reservation lost every race with other sidecars; refused")
	return h.drop()
}

// decide returns the approval decoded from e, its uses counted on its
// counter c and with the uses etcd lost (st's, which lostFound may
// replace), and whether it admits client on route at now. read says c
// was just read from etcd: behind the counter watched, etcd lost uses.
// A counter kept from earlier (a hold's, from its reservation) is
// behind the watch because uses were spent since, and says nothing of
// the kind.
func (l *Ledger) decide(st **ledgerState, id string, e ledgerEntry, c Counter, read bool, client, route string, now time.Time) (Approval, bool) {
	a, err := DecodeApproval(e.raw)
	if err != nil || a.ID != id {
		return a, false
	}
	if wc, ok := (*st).counters.get(id); read && ok && wc.Create == c.Create && c.Version < wc.Version {
		*st = l.lostFound(id, c)
	}
	a.Count(e.rev, c)
	if lu, ok := (*st).lost[id]; ok && lu.create == c.Create {
		a.Uses = int(min(int64(a.MaxUses), int64(a.Uses)+lu.n))
	}
	return a, a.Problem(client, route, now) == ""
}

// freeSlot returns the slot to try for a's next use: with the slots not
// read yet, the one after its uses (each use spent keeps its slot);
// otherwise the first of 1 to max_uses not taken, or 0 when all are.
func freeSlot(a *Approval, taken map[int]bool) int {
	if taken == nil {
		return a.Uses + 1
	}
	for n := 1; n <= a.MaxUses; n++ {
		if !taken[n] {
			return n
		}
	}
	return 0
}

// grant takes the lease of h's slot, of HoldTTL: the slot lapses with it
// unless Commit moves it to the grant's uses lease first.
func (h *Hold) grant(ctx context.Context) bool {
	ttl := int64((h.l.cfg.HoldTTL + time.Second - 1) / time.Second)
	g, err := h.l.cli.Grant(ctx, ttl)
	if err != nil {
		h.l.cfg.Logger.Warn().Err(err).Str("approval", h.id).Msg("cannot take a lease to hold an approval use; refused")
		return false
	}
	h.lease = g.ID
	return true
}

// try puts slot n of a, decoded from e, on h's lease if e is still the
// record in etcd, c the counter and the slot free. done reports a final
// answer ok; otherwise next, nc and taken are the record, counter and
// slots in etcd, to decide on again.
func (h *Hold) try(ctx context.Context, a *Approval, e ledgerEntry, c Counter, n int) (next ledgerEntry, nc Counter, taken map[int]bool, done, ok bool) {
	l := h.l
	if !a.UsesCounter || c.Create != a.usesRev(e.rev) || c.Version < 1 || n > a.MaxUses {
		return e, c, nil, true, false
	}
	v, err := json.Marshal(h.use)
	if err != nil {
		return e, c, nil, true, false
	}
	slot := l.k.ApprovalSlot(h.id, n)
	resp, err := l.cli.Txn(ctx).If(
		clientv3.Compare(clientv3.ModRevision(l.k.Approval(h.id)), "=", e.rev),
		clientv3.Compare(clientv3.CreateRevision(l.k.ApprovalCounter(h.id)), "=", c.Create),
		clientv3.Compare(clientv3.CreateRevision(slot), "=", 0),
	).Then(clientv3.OpPut(slot, string(v), clientv3.WithLease(h.lease))).
		Else(append(l.readOps(h.id), clientv3.OpGet(l.k.ApprovalSlots(h.id), clientv3.WithPrefix(), clientv3.WithKeysOnly()))...).Commit()
	if err != nil {
		l.cfg.Logger.Warn().Err(err).Str("approval", h.id).Msg("cannot hold an approval use in etcd; refused")
		return e, c, nil, true, false
	}
	if resp.Succeeded {
		h.e, h.c, h.slot, h.rev = e, c, n, resp.Header.Revision
		return e, c, nil, true, true
	}
	next, nc, found := l.read(resp)
	if !found {
		return e, c, nil, true, false // expired or removed meanwhile
	}
	taken = map[int]bool{}
	prefix := l.k.ApprovalSlots(h.id)
	for _, kv := range resp.Responses[2].GetResponseRange().Kvs {
		if m, err := strconv.Atoi(strings.TrimPrefix(string(kv.Key), prefix)); err == nil {
			taken[m] = true
		}
	}
	return next, nc, taken, false, false
}

// Commit spends the held use at now: the counter's put that counts it
// and the slot's move to the grant's uses lease, in one transaction that
// requires the record and counter as UseWrite does and the slot still
// h's (not lapsed). It reports whether the request may go. Refused (the
// approval denied or expired meanwhile, the slot lapsed, etcd not
// answering), the use is not spent and the hold is released; only an
// etcd error after the transaction reached etcd may have spent it.
func (h *Hold) Commit(now time.Time) bool {
	l := h.l
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Timeout)
	defer cancel()
	st := l.state.Load()
	e, c := h.e, h.c
	// The watch may have seen uses spent since the reservation, or the
	// grant withdrawn: start from what is newer.
	if wc, ok := st.counters.get(h.id); ok && wc.Create == c.Create && wc.Version > c.Version {
		c = wc
	}
	if we, ok := st.records.get(h.id); ok && we.rev > e.rev {
		e = we
	}
	slot := l.k.ApprovalSlot(h.id, h.slot)
	read := false
	for range consumeAttempts {
		a, ok := l.decide(&st, h.id, e, c, read, h.client, h.route, now)
		if !ok {
			break
		}
		cmps, put, err := UseWrite(l.k, &a, e.rev, c, h.use)
		if err != nil {
			break
		}
		v, _ := json.Marshal(h.use) // encoded by UseWrite already
		var kept []clientv3.OpOption
		if a.UsesLease != 0 {
			kept = append(kept, clientv3.WithLease(clientv3.LeaseID(a.UsesLease)))
		}
		resp, err := l.cli.Txn(ctx).If(append(cmps, clientv3.Compare(clientv3.ModRevision(slot), "=", h.rev))...).
			Then(put, clientv3.OpPut(slot, string(v), kept...)).
			Else(append(l.readOps(h.id), clientv3.OpGet(slot))...).Commit()
		if err != nil {
			// Among others, the uses lease has expired: the grant has too.
			l.cfg.Logger.Warn().Err(err).Str("approval", h.id).Msg("cannot spend a held approval use in etcd; refused")
			break
		}
		if resp.Succeeded {
			// The slot is on the uses lease now; the hold's own lease holds
			// nothing and would linger for HoldTTL, one per approved
			// request. Revoked off the request path; Ledger.Wait waits
			// for it at shutdown.
			l.releases.Go(h.Release)
			return true
		}
		if kvs := resp.Responses[2].GetResponseRange().Kvs; len(kvs) != 1 || kvs[0].ModRevision != h.rev {
			l.cfg.Logger.Warn().Str("approval", h.id).Msg("held approval use lapsed before it was spent (held past its lease); refused, nothing spent")
			break
		}
		var found bool
		if e, c, found = l.read(resp); !found {
			break // expired or removed meanwhile
		}
		read = true
	}
	h.Release()
	return false
}

// Release gives the held use back: its lease is revoked, which deletes
// the slot, unless Commit moved it to the uses lease (Commit releases
// the lease itself then). It is safe to call more than once, but not at
// the same time as Commit.
func (h *Hold) Release() {
	if h == nil || h.lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.l.cfg.Timeout)
	defer cancel()
	if _, err := h.l.cli.Revoke(ctx, h.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		h.l.cfg.Logger.Warn().Err(err).Str("approval", h.id).Msg("cannot release a held approval use; it goes back when its lease lapses")
	}
	h.lease = 0
}

// drop releases a hold Reserve refuses (its lease, if it took one) and
// returns nil.
func (h *Hold) drop() *Hold {
	h.Release()
	return nil
}
