package etcdadmin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// MemberLife is one run of a sidecar's member record, from the put that
// created it to the delete that ended it: the sidecar's lease revoked as
// it stopped, or lapsed when it died or lost etcd. A sidecar that went
// away before the pack was made has no record left, only this.
type MemberLife struct {
	Pod string
	// Created and Deleted are the revisions of the record's first put
	// and of its delete; Deleted is 0 while the record is there.
	Created, Deleted int64
	// Started is when the sidecar's process started, as the record
	// says; Updated is the last version's Updated: the sidecar was up then.
	Started, Updated time.Time
}

// DatedRevision is a revision with a time: a member record's Updated at
// the revision that wrote it. A sidecar whose record was deleted at
// revision R was up at every dated revision below R.
type DatedRevision struct {
	Revision int64
	Time     time.Time
}

// MemberHistory is every member record etcd's history still holds.
type MemberHistory struct {
	Lives []MemberLife
	Dated []DatedRevision // every member write, in revision order
	// Heads are the audit heads put under the prefix
	// (<prefix>/audit/head), in revision order, as written: a signed
	// head names the collector's clock, read just before the write at its
	// revision. A sidecar's Started and Updated are its own clock's; a
	// head's time is the collector's, so a sidecar with a wrong clock
	// cannot move when its record was there. They are not opened here:
	// the reader opens each with the collector's key (collector.OpenHead)
	// and uses none that fails, for a head written by hand under audit/
	// (a holder of the operator role) would date the records as it likes.
	Heads []HeadPut
	// Cluster is the id of the etcd cluster read: revisions compare only
	// within one (collector.Event.Cluster).
	Cluster uint64
	// From is the oldest revision read: etcd compacted the history
	// before it (1 when it kept it all), so a record that came and went
	// before From is not among Lives. To is the revision read up to.
	From, To int64
}

// HeadPut is one put of the audit head: its revision and the document
// written, unopened.
type HeadPut struct {
	Revision int64
	Doc      []byte
}

// progressEvery is how often MemberHistory asks the watch for its
// progress: etcd answers only once the watch has caught up.
const progressEvery = 100 * time.Millisecond

// MemberHistory reads the history of the member records (members/<pod>)
// that etcd keeps, puts and deletes, from the oldest revision it has not
// compacted to now. Only a watch reads deletes of the past, so it opens
// one and reads until a progress notice says it reached the current
// revision. The second result names versions that do not decode.
func (a *Admin) MemberHistory(ctx context.Context) (MemberHistory, []string, error) {
	dir := a.k.MembersDir()
	cur, err := a.cli.Get(ctx, dir, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return MemberHistory{}, nil, fmt.Errorf("cannot read members under %q: %w", dir, err)
	}
	h := memberHistory{MemberHistory: MemberHistory{From: 1, To: cur.Header.Revision, Cluster: cur.Header.ClusterId}, open: map[string]int{}}
	for {
		done, compacted, err := a.watchHistory(ctx, dir, true, h.From, h.To, func(ev *clientv3.Event) { h.add(dir, ev) })
		if err == nil && done {
			// The heads from the same revision on: a compaction between
			// the two reads starts both again.
			done, compacted, err = a.watchHistory(ctx, a.k.AuditHead(), false, h.From, h.To, h.addHead)
		}
		if err != nil {
			return MemberHistory{}, nil, err
		}
		if done {
			return h.MemberHistory, h.bad, nil
		}
		// Compacted: read again from the oldest revision etcd keeps.
		h = memberHistory{MemberHistory: MemberHistory{From: compacted, To: h.To, Cluster: h.Cluster}, open: map[string]int{}}
	}
}

// addHead notes one put of the audit head, as written.
func (h *memberHistory) addHead(ev *clientv3.Event) {
	if ev.Type == mvccpb.PUT {
		h.Heads = append(h.Heads, HeadPut{ev.Kv.ModRevision, ev.Kv.Value})
	}
}

// memberHistory is MemberHistory while it is read.
type memberHistory struct {
	MemberHistory
	open map[string]int // key -> index in Lives of its record's run
	bad  []string
}

// watchHistory hands add every put and delete of key (every key under
// it with prefix) from revision from to to; compacted is the revision to
// read from again when etcd compacted past from.
func (a *Admin) watchHistory(ctx context.Context, key string, prefix bool, from, to int64, add func(*clientv3.Event)) (done bool, compacted int64, err error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	dir := key
	opts := []clientv3.OpOption{clientv3.WithRev(from), clientv3.WithProgressNotify()}
	if prefix {
		opts = append(opts, clientv3.WithPrefix())
	}
	ch := a.cli.Watch(wctx, key, opts...)
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, 0, fmt.Errorf("cannot read the history of %q: %w", dir, ctx.Err())
		case <-tick.C:
			// Ignored until the watch has caught up; then answered.
			a.cli.RequestProgress(wctx)
		case resp, ok := <-ch:
			switch {
			case !ok:
				return false, 0, fmt.Errorf("cannot read the history of %q: the watch ended", dir)
			case resp.CompactRevision != 0:
				return false, resp.CompactRevision, nil
			case resp.Err() != nil:
				return false, 0, fmt.Errorf("cannot read the history of %q: %w", dir, resp.Err())
			}
			for _, ev := range resp.Events {
				if ev.Kv.ModRevision > to {
					return true, 0, nil
				}
				add(ev)
			}
			if resp.IsProgressNotify() && resp.Header.Revision >= to {
				return true, 0, nil
			}
		}
	}
}

// add notes one put or delete of a member record.
func (h *memberHistory) add(dir string, ev *clientv3.Event) {
	key := string(ev.Kv.Key)
	i, open := h.open[key]
	if ev.Type == mvccpb.DELETE {
		if open {
			h.Lives[i].Deleted = ev.Kv.ModRevision
			delete(h.open, key)
		}
		// A delete of a record last written before From: the run is
		// not known from its start (Created 0). It is kept, from its
		// delete alone.
		if !open {
			h.Lives = append(h.Lives, MemberLife{Pod: strings.TrimPrefix(key, dir), Deleted: ev.Kv.ModRevision})
		}
		return
	}
	m, err := etcdsync.DecodeMember(ev.Kv.Value)
	if err != nil {
		h.bad = append(h.bad, fmt.Sprintf("member record %q at revision %d is invalid: %v", key, ev.Kv.ModRevision, err))
		return
	}
	h.Dated = append(h.Dated, DatedRevision{ev.Kv.ModRevision, m.Updated})
	if !open {
		// CreateRevision, not this put's: etcd keeps it past compaction.
		h.Lives = append(h.Lives, MemberLife{Pod: strings.TrimPrefix(key, dir), Created: ev.Kv.CreateRevision, Started: m.Started})
		i = len(h.Lives) - 1
		h.open[key] = i
	}
	h.Lives[i].Updated = m.Updated
	if h.Lives[i].Started.IsZero() {
		h.Lives[i].Started = m.Started
	}
}
