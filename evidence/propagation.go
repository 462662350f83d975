package evidence

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// revocationColumns are the RevocationRecords file's columns: the event,
// its first denial overall and by sidecar, then, on the rows of one live
// sidecar each, when that sidecar applied the revision that carried the
// change (from its member record's history) and its own first denial.
var revocationColumns = []string{"time", "action", "target", "actor", "ticket", "reason", "etcd_revision",
	"first_denial_after", "first_denial_by_sidecar", "sidecar", "applied_revision", "applied_at", "sidecar_first_denial", "propagation"}

// isRevocation reports whether ev takes a credential away.
func isRevocation(ev *collector.Event) bool {
	switch ev.Action {
	case etcdadmin.ActionKeyRevoke, etcdadmin.ActionTokenRevoke, etcdadmin.ActionClientSuspend:
		return true
	}
	return false
}

// revocations writes the period's revocations and suspensions from the
// lifecycle events the collector stored: one row per change with its
// first denials, then one row per live sidecar with the propagation
// proof. A sidecar whose member record never named the change's revision
// is flagged NOT ACKNOWLEDGED, never left out.
func (b *builder) revocations() ([]byte, error) {
	trails, note, err := b.memberTrails()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(revocationColumns)
	for i := range b.events {
		ev := &b.events[i]
		if !isRevocation(ev) {
			continue
		}
		head := []string{rfc(ev.Time), ev.Action, ev.Target, ev.Actor, ev.Ticket, ev.Reason, strconv.FormatInt(ev.Revision, 10)}
		sum := summary(ev, trails, note)
		if u, ok := b.tally.lastAllowed[ev.Target]; ok && ev.Action == etcdadmin.ActionKeyRevoke && u.at.After(changeTime(ev).Add(revokeGrace)) {
			sum += fmt.Sprintf("; ALLOWED AFTER REVOCATION: the key authenticated a request allowed at %s by %s", rfc(u.at), u.by)
		}
		row := append(head[:len(head):len(head)], rfc(b.firstDenial(i)), b.enforcedBy(i), "", "", "", "", sum)
		w.Write(csvCells(row...))
		for _, t := range trails {
			row := append(head[:len(head):len(head)], "", "", t.Pod)
			w.Write(csvCells(append(row, b.propagation(i, t)...)...))
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// memberTrails reads the live sidecars' member records back to the
// earliest revocation of the period, or says why there are none; read
// once, for the revocation file and the checklist alike.
func (b *builder) memberTrails() ([]etcdadmin.MemberTrail, string, error) {
	if !b.members.read {
		b.members.trails, b.members.note, b.members.err = b.readMemberTrails()
		b.members.read = true
	}
	return b.members.trails, b.members.note, b.members.err
}

// memberTrails is what builder.memberTrails read.
type memberTrails struct {
	read   bool
	trails []etcdadmin.MemberTrail
	note   string
	err    error
}

// readMemberTrails reads the member records (builder.memberTrails).
func (b *builder) readMemberTrails() ([]etcdadmin.MemberTrail, string, error) {
	if b.cfg.Members == nil {
		return nil, "no member records: the pack was built without etcd", nil
	}
	since := int64(-1)
	for i := range b.events {
		if isRevocation(&b.events[i]) && (since < 0 || b.events[i].Revision < since) {
			since = b.events[i].Revision
		}
	}
	if since < 0 {
		return nil, "", nil
	}
	trails, bad, err := b.cfg.Members(since)
	if err != nil {
		return nil, "", fmt.Errorf("cannot read the member records: %w", err)
	}
	for _, s := range bad {
		b.warn("%s", s)
	}
	if len(trails) == 0 {
		return nil, "no live sidecar has a member record in etcd", nil
	}
	return trails, "", nil
}

// summary counts the live sidecars that acknowledged ev's revision.
func summary(ev *collector.Event, trails []etcdadmin.MemberTrail, note string) string {
	if note != "" {
		return note
	}
	n := 0
	for _, t := range trails {
		if _, ok := t.Applied(ev.Revision); ok {
			n++
		}
	}
	s := fmt.Sprintf("%d of %d live sidecars applied revision %d", n, len(trails), ev.Revision)
	if n < len(trails) {
		s += "; NOT ACKNOWLEDGED by " + strconv.Itoa(len(trails)-n)
	}
	return s
}

// podDenials returns the first denial after event i of each sender whose
// records name pod, as "time (sender)", earliest first: the pod name is
// the sender's to write, so a denial another sender's token claimed for
// the pod is shown as that sender's, never as the pod's own. The list
// holds what fits a spreadsheet cell and counts the rest. A pod not among
// the first maxPods that denied gets the earliest of those kept together
// for the pods past them, named so, with their count: which of them is
// its own no record can tell. Before, each such pod's cell listed every
// one, on a row of its own: with a sender for each of 5,000 pods, 4,000
// rows of 4,000 entries (TestPodDenialCellsBounded).
func (b *builder) podDenials(i int, pod string) string {
	var out []string
	var early sidecar
	var at time.Time
	more := 0
	for s, t := range b.tally.firstBy[i] {
		switch s.pod {
		case pod:
			out = append(out, rfc(t)+" ("+s.sender+")")
		case morePods, morePodsOfSender:
			more++
			if more == 1 || t.Before(at) || t.Equal(at) && s.sender < early.sender {
				early, at = s, t
			}
		}
	}
	if len(out) == 0 && more > 0 {
		return fmt.Sprintf("%s (%s), the earliest of %d senders' first denials of %s", rfc(at), early.sender, more, early.pod)
	}
	sort.Strings(out)
	return boundedList(out, maxCellChars, "other senders whose records name this pod")
}

// propagation returns the applied revision, when, the sidecar's first
// denial and the verdict for event i and one sidecar's trail.
func (b *builder) propagation(i int, t etcdadmin.MemberTrail) []string {
	ev := &b.events[i]
	denial := b.podDenials(i, t.Pod)
	m, ok := t.Applied(ev.Revision)
	if !ok {
		cur := t.Versions[len(t.Versions)-1]
		return []string{strconv.FormatInt(cur.Revision, 10), "", denial,
			fmt.Sprintf("NOT ACKNOWLEDGED: its member record names revision %d (updated %s), before %d", cur.Revision, rfc(cur.Updated), ev.Revision)}
	}
	verdict := "applied"
	if t.Compacted && m == t.Versions[0] {
		verdict = "applied no later than applied_at (etcd compacted the older versions of its record)"
	}
	return []string{strconv.FormatInt(m.Revision, 10), rfc(m.Updated), denial, verdict}
}

// propagated is the checklist's view of the period's revocations and
// suspensions (key.revoke, client.suspend) across the live sidecars:
// how many (change, sidecar) pairs were never acknowledged, and the
// longest a sidecar took to apply one; note says why there is no
// propagation proof at all ("" when there is).
type propagated struct {
	unacked, pairs int
	slowest        time.Duration
	note           string
}

// propagated returns the checklist's view of events i (the revocations
// it counts) against the live sidecars' member records.
func (b *builder) propagated(events []int) (propagated, error) {
	var pr propagated
	trails, note, err := b.memberTrails()
	if err != nil {
		return pr, err
	}
	pr.note = note
	if note == "" && len(trails) == 0 && len(events) > 0 {
		pr.note = "no member records read"
	}
	for _, i := range events {
		ev := &b.events[i]
		for _, t := range trails {
			pr.pairs++
			m, ok := t.Applied(ev.Revision)
			if !ok {
				pr.unacked++
				continue
			}
			if d := m.Updated.Sub(ev.Time); d > pr.slowest {
				pr.slowest = d
			}
		}
	}
	return pr, nil
}

// fact says what the member records show of the changes, for the
// checklist's fact column.
func (pr propagated) fact() string {
	switch {
	case pr.note != "":
		return "propagation to the sidecars NOT CHECKED (" + pr.note + ")"
	case pr.unacked > 0:
		return fmt.Sprintf("NOT ACKNOWLEDGED: %d of %d (change, live sidecar) pairs, a sidecar that never applied the change", pr.unacked, pr.pairs)
	case pr.pairs == 0:
		return "no change to propagate"
	}
	return fmt.Sprintf("applied by every live sidecar, the slowest %s after the change", pr.slowest)
}
