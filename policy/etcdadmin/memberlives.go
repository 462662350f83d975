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
	// From is the oldest revision read: etcd compacted the history
	// before it (1 when it kept it all), so a record that came and went
	// before From is not among Lives. To is the revision read up to.
	From, To int64
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
	h := memberHistory{MemberHistory: MemberHistory{From: 1, To: cur.Header.Revision}, open: map[string]int{}}
	for {
		done, compacted, err := a.watchMembers(ctx, &h)
		if err != nil {
			return MemberHistory{}, nil, err
		}
		if done {
			return h.MemberHistory, h.bad, nil
		}
		// Compacted: read again from the oldest revision etcd keeps.
		h = memberHistory{MemberHistory: MemberHistory{From: compacted, To: h.To}, open: map[string]int{}}
	}
}

// memberHistory is MemberHistory while it is read.
type memberHistory struct {
	MemberHistory
	open map[string]int // key -> index in Lives of its record's run
	bad  []string
}

// watchMembers reads h's history from h.From; compacted is the revision
// to read from again when etcd compacted past h.From.
func (a *Admin) watchMembers(ctx context.Context, h *memberHistory) (done bool, compacted int64, err error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	dir := a.k.MembersDir()
	ch := a.cli.Watch(wctx, dir, clientv3.WithPrefix(), clientv3.WithRev(h.From), clientv3.WithProgressNotify())
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, 0, fmt.Errorf("cannot read the history of the members under %q: %w", dir, ctx.Err())
		case <-tick.C:
			// Ignored until the watch has caught up; then answered.
			a.cli.RequestProgress(wctx)
		case resp, ok := <-ch:
			switch {
			case !ok:
				return false, 0, fmt.Errorf("cannot read the history of the members under %q: the watch ended", dir)
			case resp.CompactRevision != 0:
				return false, resp.CompactRevision, nil
			case resp.Err() != nil:
				return false, 0, fmt.Errorf("cannot read the history of the members under %q: %w", dir, resp.Err())
			}
			for _, ev := range resp.Events {
				if ev.Kv.ModRevision > h.To {
					return true, 0, nil
				}
				h.add(dir, ev)
			}
			if resp.IsProgressNotify() && resp.Header.Revision >= h.To {
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
