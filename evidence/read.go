package evidence

import (
	"fmt"
	"slices"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// readStore reads the store once (collector.ReadStore): every lifecycle
// event (returned, for the alerts), the period's events into b.events,
// its records into the tally and, with a verify key, the store's
// verification, leaving out the entries that fail their own checks
// (b.leftOut). One read instead of three: the pack of 10 million
// records read 3.8 GB three times (BenchmarkPack, issue 15).
//
// The tally counts a denial against the revocations read before it. A
// record stored before a revocation it follows in time (a sidecar's
// batch that reached the collector after the change's event) is counted
// after the pass: recountLate reads again the entries that hold one.
func (b *builder) readStore() ([]collector.Event, *collector.VerifyReport, error) {
	var all []collector.Event
	var marks []denialMark
	p := b.cfg.Period
	// With a key, only what it signed is evidence: an entry that fails
	// its own checks (edited, forged) is counted and left out, as
	// detection's replay and audit query leave it.
	lastOut := entryPos{idx: -1}
	out := func(e *collector.Entry) bool {
		if b.cfg.VerifyKey == nil || e.Verified {
			return false
		}
		if at := (entryPos{e.Segment, e.Index}); at != lastOut {
			lastOut = at
			b.leftOut++
			if b.leftOutAt == nil {
				b.leftOutAt = map[entryPos]bool{}
			}
			b.leftOutAt[at] = true
		}
		return true
	}
	pass := collector.Pass{
		Filter: collector.Filter{From: p.From, To: p.To},
		Records: func(e *collector.Entry, r *collector.StoredRecord) error {
			if out(e) {
				return nil
			}
			b.senders.add(e)
			b.noteRevision(e, r)
			over := b.tally.approvalsOver
			b.tally.add(b, r)
			if b.tally.approvalsOver != over {
				b.tally.overSegs[e.Segment] = true
			}
			if isDenial(r) {
				marks = noteDenial(marks, e, r.Time)
			}
			return nil
		},
		Events: func(e *collector.Entry, ev *collector.Event) error {
			if out(e) {
				return nil
			}
			all = append(all, *ev)
			clearOperatorText(&all[len(all)-1])
			b.tally.knowApproval(ev, entryPos{e.Segment, e.Index})
			if p.Contains(ev.Time) {
				b.events = append(b.events, *ev)
				b.tally.addEvent(b, len(b.events)-1, entryPos{e.Segment, e.Index}) // scans the texts as stored
				clearOperatorText(&b.events[len(b.events)-1])
			}
			return nil
		},
	}
	if b.cfg.VerifyKey != nil {
		// The anchor's checks are Verify's own (audit verify's options), so
		// a store rolled back behind a published head fails here as there.
		pass.VerifyKey, pass.Verify = b.cfg.VerifyKey, collector.VerifyOptions{Now: b.cfg.Now(),
			Published: b.cfg.Anchor.Published, OtherPublished: b.cfg.Anchor.Others, ExpectHead: b.cfg.Anchor.ExpectHead,
			AnchorProblems: b.cfg.Anchor.Problems, AnchorUnchecked: b.cfg.Anchor.Unchecked, AnchorAbsent: b.cfg.Anchor.Absent, AnchorUncounted: b.cfg.Anchor.Uncounted}
		pass.MarkVerified = true
	}
	rep, err := collector.ReadStore(b.cfg.DataDir, pass)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read store %q: %w", b.cfg.DataDir, err)
	}
	if err := b.recountApprovals(); err != nil { // approvalids.go
		return nil, nil, err
	}
	return all, rep, b.recountLate(marks)
}

// maxSeenRevisions bounds the revisions noteRevision keeps: a sidecar
// names the revisions it applied, and a sender writing made-up ones must
// not grow the map without end.
const maxSeenRevisions = 100000

// revSeen is when the collector first stored a batch of sender naming
// pod holding a record that named a revision.
type revSeen struct {
	sender, pod string
	at          time.Time
}

// maxRevSeen bounds the senders and pods kept for one revision: the
// earliest, of which etcdClock counts the second sender of a pod of its
// etcd. Past it a reading may be lost, which only dates less.
const maxRevSeen = 4

// noteRevision keeps, for the revision r's sidecar had applied, the
// earliest time the collector stored a batch holding it, for each of the
// first senders and pods that named it (etcdClock).
func (b *builder) noteRevision(e *collector.Entry, r *collector.StoredRecord) {
	if r.PolicyRevision <= 0 {
		return
	}
	if b.seenRevisions == nil {
		b.seenRevisions = map[int64][]revSeen{}
	}
	seen, ok := b.seenRevisions[r.PolicyRevision]
	if !ok && len(b.seenRevisions) >= maxSeenRevisions {
		return
	}
	i := slices.IndexFunc(seen, func(s revSeen) bool { return s.sender == e.Sender && s.pod == e.Pod })
	switch {
	case i < 0:
		seen = append(seen, revSeen{e.Sender, e.Pod, e.Time})
	case e.Time.Before(seen[i].at):
		seen[i].at = e.Time
	}
	slices.SortFunc(seen, func(x, y revSeen) int { return x.at.Compare(y.at) })
	b.seenRevisions[r.PolicyRevision] = seen[:min(len(seen), maxRevSeen)]
}

// entryPos is an entry's place in the store: its segment and line.
type entryPos struct {
	seg uint64
	idx int
}

func (a entryPos) before(b entryPos) bool {
	return a.seg < b.seg || (a.seg == b.seg && a.idx < b.idx)
}

// denialMark is an entry that holds denials of the period, with the time
// of the latest: what recountLate needs to find it again.
type denialMark struct {
	at     entryPos
	latest time.Time
}

// noteDenial notes a denial at t in entry e; one mark per entry.
func noteDenial(marks []denialMark, e *collector.Entry, t time.Time) []denialMark {
	at := entryPos{e.Segment, e.Index}
	if n := len(marks); n > 0 && marks[n-1].at == at {
		if t.After(marks[n-1].latest) {
			marks[n-1].latest = t
		}
		return marks
	}
	return append(marks, denialMark{at: at, latest: t})
}

// recountLate counts again the denials of the entries marked that a
// revocation stored at or after them may explain: one whose latest
// denial is after the change time of such a revocation. It reads only
// their segments; counting a denial twice changes nothing (the tally
// keeps the first denial after each revocation).
func (b *builder) recountLate(marks []denialMark) error {
	t := b.tally
	// later[k] is the earliest change time among revocations k and after,
	// in storage order (the order they were read in).
	later := make([]time.Time, len(t.revokeAt))
	for k := len(t.revokeAt) - 1; k >= 0; k-- {
		later[k] = changeTime(&b.events[t.revokeAt[k].event])
		if k+1 < len(later) && later[k+1].Before(later[k]) {
			later[k] = later[k+1]
		}
	}
	again, segs, k := map[entryPos]bool{}, map[uint64]bool{}, 0
	for _, m := range marks {
		for k < len(t.revokeAt) && t.revokeAt[k].at.before(m.at) {
			k++
		}
		if k < len(later) && m.latest.After(later[k]) {
			again[m.at], segs[m.at.seg] = true, true
		}
	}
	if len(again) == 0 {
		return nil
	}
	p := b.cfg.Period
	_, err := collector.ReadStore(b.cfg.DataDir, collector.Pass{
		Filter:   collector.Filter{From: p.From, To: p.To},
		Segments: func(n uint64) bool { return segs[n] },
		Records: func(e *collector.Entry, r *collector.StoredRecord) error {
			if again[entryPos{e.Segment, e.Index}] && isDenial(r) {
				t.addDenials(b, r)
			}
			return nil
		},
	})
	if err != nil {
		return fmt.Errorf("cannot read store %q again: %w", b.cfg.DataDir, err)
	}
	return nil
}

// clearOperatorText replaces the actor, reason and ticket of ev, an
// operator's free text, by what the CLI writes for them to etcd now
// (collector.RedactText: a credential's shape, a pair whose name names a
// credential, a secret after such a name in prose), for the pack to
// print. An event a CLI from before those rules wrote, or another writer
// of etcd, holds them as typed, and the lifecycle log, the revocation
// records, the review records, the approval samples and the alert
// samples copied "password hunter2" from a reason as the trail held it
// (TestPackPrintsOperatorTextCleared). The credential scan reads the
// event of the period before (scanEvent), so it still names the event.
func clearOperatorText(ev *collector.Event) {
	ev.Actor, ev.Reason, ev.Ticket = collector.RedactText(ev.Actor), collector.RedactText(ev.Reason), collector.RedactText(ev.Ticket)
}
