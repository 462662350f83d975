package evidence

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// The numbers missing between stored batches (senders.go) show batches
// dropped while a sidecar went on sending; they cannot show a sidecar
// that stopped sending (its spool lost, its path to the collector cut, a
// pod silenced) or whose last batches were dropped: no later batch comes
// to leave a gap. The sidecars' member records in etcd (leased: a record
// is there while its sidecar is up) say which sidecars were live, so a
// live sidecar that stored no batch for a long span, or none, is named.

// DefaultSilence is how long a live sidecar may store no batch before
// the pack says its records of that span may be missing. A sidecar that
// serves requests flushes a batch within its emitter's flush interval
// (1s by default) and the collector stores records dated up to its
// --record-window (15 minutes by default) from receipt, so an hour would
// be past any delay of a batch on its way; but a sidecar sends batches
// only of requests it served, and an hour without requests is every
// quiet night: a pack of a quarter would say INCOMPLETE for each, and
// its readers would learn to pass over the word. A day without a
// request to a service in production, while its sidecar is up, is rare
// enough to name; --silence sets a shorter span for busy services.
const DefaultSilence = 24 * time.Hour

// maxQuiet bounds the quiet spans kept a pod.
const maxQuiet = 100

// quietSpan is a span in which a pod stored no batch.
type quietSpan struct{ from, to time.Time }

// podBatches are when one pod's batches (of the period's records) were
// stored: the first, the last, and the spans between longer than
// senders.quiet.
type podBatches struct {
	first, last time.Time
	gaps        []quietSpan
	more        int // quiet spans past maxQuiet
}

// addPod notes entry e's time for its pod and sender; the store's
// entries come in the order stored. The pod name is the sender's to
// write, so each sender's batches naming a pod are followed apart: a
// sender's batches never cover another's silence.
func (s *senders) addPod(e *collector.Entry) {
	k := sidecar{e.Pod, e.Sender}
	pb := s.pods[k]
	if pb == nil {
		if len(s.pods) >= s.max.all || s.podsPer[e.Sender] >= s.max.perSender {
			s.podUnfollowed(e.Sender, e.Pod)
			return
		}
		if s.pods == nil {
			s.pods, s.podsPer = map[sidecar]*podBatches{}, map[string]int{}
		}
		s.podsPer[e.Sender]++
		s.pods[k] = &podBatches{first: e.Time, last: e.Time}
		return
	}
	if e.Time.Sub(pb.last) > s.quiet {
		if len(pb.gaps) < maxQuiet {
			pb.gaps = append(pb.gaps, quietSpan{pb.last, e.Time})
		} else {
			pb.more++
		}
	}
	if e.Time.After(pb.last) {
		pb.last = e.Time
	}
}

// liveSpan is a span in which a pod's member record shows its sidecar
// up; how says what bounds it, for a sidecar gone before the pack.
type liveSpan struct {
	from, to time.Time
	how      string
}

// checkSilence reads the member records (Config.Members) and their
// history (Config.MemberHistory) and sets b.silent to what the silence
// of the sidecars live during the period leaves out, and b.silenceNote
// to what was checked.
func (b *builder) checkSilence() error {
	quiet := b.senders.quiet
	if b.cfg.Members == nil {
		b.silenceCaveats = append(b.silenceCaveats, "silence NOT CHECKED, no member records (built without --etcd)")
		b.silenceNote = "Silence CANNOT BE CHECKED: the pack was built without etcd (`--etcd`), so no member record says which sidecars were live during the period. A sidecar that stopped sending shows here only as its last batch stored before the period's end, and one that never sent does not show at all.\n\n"
		return nil
	}
	trails, note, err := b.memberTrails()
	if err != nil {
		return err
	}
	if len(trails) == 0 && note == "" {
		// No revocation in the period, so none was read: the records
		// as they are now, without their history.
		var bad []string
		if trails, bad, err = b.cfg.Members(math.MaxInt64); err != nil {
			return fmt.Errorf("cannot read the member records: %w", err)
		}
		for _, s := range bad {
			b.warn("%s", s)
		}
	}
	end := b.cfg.Period.To
	if !b.partial.IsZero() {
		end = b.partial
	}
	h, histNote, err := b.memberHistory()
	if err != nil {
		return err
	}
	// The pods with a member record in this etcd, live or in its
	// history: only their records date its revisions (etcdClock).
	ours := map[string]bool{}
	for _, t := range trails {
		ours[t.Pod] = true
	}
	for _, l := range h.Lives {
		ours[l.Pod] = true
	}
	clock := b.etcdClock(h, ours)
	created := map[string]int64{}
	for _, l := range h.Lives {
		if l.Deleted == 0 {
			created[l.Pod] = l.Created
		}
	}
	spans := map[string][]liveSpan{}
	for _, t := range trails {
		if len(t.Versions) == 0 {
			continue
		}
		// Live from when its process started (the record's Started,
		// by its own clock, held between the collector's readings
		// around the record's creation: revClock.start; unknown counts
		// from the period's start) until the pack.
		from := t.Versions[len(t.Versions)-1].Started
		if c := created[t.Pod]; c != 0 && !from.IsZero() {
			from = clock.start(from, c)
		}
		spans[t.Pod] = append(spans[t.Pod], liveSpan{from: from, to: end})
	}
	if h.To != 0 {
		histNote = b.departedSpans(spans, h, clock, end)
	}
	// When each pod's sidecars started, for the senders one after the
	// other (senders.rotated): a new credential needs a new process.
	b.senders.starts = map[string][]time.Time{}
	for pod, ls := range spans {
		for _, l := range ls {
			if !l.from.IsZero() {
				b.senders.starts[pod] = append(b.senders.starts[pod], l.from)
			}
		}
	}
	pods := make([]string, 0, len(spans))
	for pod := range spans {
		pods = append(pods, pod)
	}
	sort.Strings(pods)
	senders := map[string][]string{}
	var unnamed []string
	for k := range b.senders.pods {
		senders[k.pod] = append(senders[k.pod], k.sender)
		if k.pod == "" {
			unnamed = append(unnamed, mdCell(k.sender))
		}
	}
	unnamedNote := ""
	if len(unnamed) > 0 {
		// No member record can name a sidecar that named no pod: its
		// silence is checked against nothing. Named and warned of, not
		// INCOMPLETE: an OTLP client sending to the collector names no
		// pod either, and would make every pack INCOMPLETE for good.
		slices.Sort(unnamed)
		unnamedNote = fmt.Sprintf("SILENCE NOT CHECKED: batches of period %s from %d sender(s) name no pod: %s. No member record in etcd names their sidecars (run without --pod, $POD_NAME or a hostname, by a release before the hostname named them, or not a sidecar), so whether they stopped sending during the period is not checked, and records they never sent are not in this pack.",
			b.cfg.Period.Name, len(unnamed), firstTen(unnamed))
		b.warn("%s", unnamedNote)
		unnamedNote = " " + unnamedNote
		b.silenceCaveats = append(b.silenceCaveats, fmt.Sprintf("silence NOT CHECKED for %d sender(s) naming no pod", len(unnamed)))
	}
	// A pod whose batches came in but that no member record names, live
	// or in etcd's history: a sidecar in file mode (--policy-file) keeps
	// none, nor does one of another etcd or prefix. Its silence is
	// checked against nothing, and the note below counted only the
	// sidecars with records, so the pack said the silence of every
	// sidecar was checked (TestFileModeSidecarSilenceNotChecked).
	var unrecorded []string
	for k := range b.senders.pods {
		if k.pod != "" && spans[k.pod] == nil {
			unrecorded = append(unrecorded, mdCell(k.pod)+" ("+mdBare(k.sender)+")")
		}
	}
	if len(unrecorded) > 0 {
		slices.Sort(unrecorded)
		t := fmt.Sprintf("SILENCE NOT CHECKED: batches of period %s from %d sidecar(s) name a pod no member record in etcd names, live or in the history read: %s. A sidecar run in file mode (--policy-file) keeps no member record, nor does one of another etcd or prefix, so nothing shows when it was up: whether it stopped sending during the period is not checked, and records it never sent are not in this pack. Only the batches missing between those it stored are counted (batches missing).",
			b.cfg.Period.Name, len(unrecorded), firstTen(unrecorded))
		b.warn("%s", t)
		unnamedNote += " " + t
		b.silenceCaveats = append(b.silenceCaveats, fmt.Sprintf("silence NOT CHECKED for %d sidecar(s) no member record names", len(unrecorded)))
	}
	if t := b.senders.podsOverText(b.cfg.Period.Name); t != "" {
		b.warn("%s", t)
		unnamedNote += " " + t
		b.silenceCaveats = append(b.silenceCaveats, "silence NOT CHECKED for the pods not followed")
	}
	if t, pods := b.sharedSenders(); t != "" {
		b.warn("%s", t)
		unnamedNote += " " + t
		b.silenceCaveats = append(b.silenceCaveats, fmt.Sprintf("silence NOT CHECKED apart for %d pod(s) sharing a sender token", pods))
	}
	var quietText, neverText []string
	for _, p := range pods {
		slices.Sort(senders[p])
		q, never := b.podSilence(p, senders[p], spans[p], end)
		if q != "" {
			quietText = append(quietText, q)
		}
		if never != "" {
			neverText = append(neverText, never)
		}
	}
	why := "A sidecar sends batches only of the requests it served, so the store cannot tell a span in which it served none from one whose records never reached the collector (its spool lost or full, its path to the collector cut, the pod silenced): the records of such spans, if any, are not in this pack, and its counts, samples and answers do not include them."
	if len(quietText) > 0 {
		b.silent = append(b.silent, fmt.Sprintf("INCOMPLETE: %d sidecar(s) live during period %s (by their member records in etcd) stored no batch for longer than %s: %s. %s",
			len(quietText), b.cfg.Period.Name, quiet, firstTen(quietText), why))
	}
	if len(neverText) > 0 {
		b.silent = append(b.silent, fmt.Sprintf("INCOMPLETE: %d sidecar(s) live during period %s for longer than %s (by their member records in etcd) have no batch holding a record of the period in the store: %s. %s",
			len(neverText), b.cfg.Period.Name, quiet, firstTen(neverText), why))
	}
	b.silenceNote = fmt.Sprintf("Silence checked against the member records in etcd of the %d sidecars live when the pack was made: one live during the period that stored no batch for longer than %s, or none at all, is named INCOMPLETE above.",
		len(trails), quiet)
	b.silenceNote += unnamedNote + " " + histNote + b.headsNote
	if b.recordDated {
		b.silenceNote += " Some etcd revisions were dated by batches of the period's sidecars naming them (policy_revision), from when a second sender named each: a revision is the sender's to write, so two compromised credentials of sidecars of this etcd can name one before it is written and date it early, cutting a gone sidecar's span, up to the last audit head the collector put in etcd at a lower revision (a reading before that head's time is refuted and dates nothing); without heads in etcd, with nothing to refute them. Sidecars sharing one sender token have no second sender: their records date nothing."
	}
	if note != "" {
		b.silenceNote += " (" + note + ")"
	}
	b.silenceNote += "\n\n"
	return nil
}

// podSilence returns what pod's batches leave silent of its live spans:
// for each sender whose batches named the pod, the quiet spans longer
// than senders.quiet within them, or, when no sender's batch named the
// pod at all, the spans it was live. Each sender's batches are its own
// line: another sender's batches naming the pod (a token stolen from
// another sidecar) do not cover the silence of the pod's own.
func (b *builder) podSilence(pod string, senders []string, live []liveSpan, end time.Time) (quietText, neverText string) {
	quiet := b.senders.quiet
	clip := func(l liveSpan, a, z time.Time) (time.Time, time.Time, bool) {
		a, z = latest(a, l.from, b.cfg.Period.From), earliest(z, l.to, end)
		return a, z, z.Sub(a) > quiet
	}
	var how []string
	for _, l := range live {
		if l.how != "" && !slices.Contains(how, l.how) {
			how = append(how, l.how)
		}
	}
	live = mergeSpans(live)
	suffix := ""
	if len(how) > 0 {
		suffix = " (" + strings.Join(how, "; ") + ")"
	}
	name := mdCell(pod)
	if len(senders) == 0 {
		var from []string
		for _, l := range live {
			switch a, z, ok := clip(l, time.Time{}, end); {
			case !ok:
			case z.Equal(end):
				from = append(from, "from "+rfc(a))
			default:
				from = append(from, rfc(a)+" to "+rfc(z))
			}
		}
		if len(from) == 0 {
			return "", "" // live too briefly in the period to tell silence from no requests
		}
		s := fmt.Sprintf("%s (live %s)", name, strings.Join(from, ", "))
		if b.senders.mayBeOver(pod) {
			s += " or among the pods not followed (SILENCE NOT CHECKED)"
		}
		return "", s + suffix
	}
	if order, line, ok := b.senders.rotated(pod, senders); ok && len(senders) > 1 {
		// One sender after another, never two at once: the pod's one
		// sidecar given a new credential. Checked as one line, where
		// each sender apart was silent before its first batch or after
		// its last, a false INCOMPLETE for every rotation.
		named := make([]string, len(order))
		for i, s := range order {
			named[i] = mdBare(s)
		}
		q := b.lineSilence(name+" ("+strings.Join(named, " then ")+")", line, live, clip, end)
		if q == "" {
			return "", ""
		}
		return q + suffix + fmt.Sprintf(" (the batches naming %s came from %d senders one after the other, checked as one sidecar's credential rotated: see SENDER ROTATED)", name, len(senders)), ""
	}
	var parts []string
	for _, sender := range senders {
		if q := b.senderSilence(sidecar{pod, sender}, live, clip, end); q != "" {
			parts = append(parts, q)
		}
	}
	if len(parts) == 0 {
		return "", ""
	}
	if len(senders) > 1 {
		suffix += fmt.Sprintf(" (the batches naming %s came from %d senders, each followed apart: the pod a batch names is its sender's to write)", name, len(senders))
	}
	return strings.Join(parts, "; ") + suffix, ""
}

// rotated returns, for a pod whose batches came from senders, the
// senders in the order they sent and their batches as one line, when
// each sender's batches all came after the last of the one before it
// and a member record of the pod shows a sidecar started between the
// two: the pod's sidecar restarted with a new credential (a token
// renamed, a certificate of a new identity: the sidecar reads both at
// start). ok is false when two senders' batches overlap in time (two
// sidecars naming the pod at once), when no start lies between them
// (another sidecar's credential taking up the name of a pod whose own
// sidecar stopped reads so), or a sender's were not followed. Nor when a
// sender's batches name another pod too (a sender with batches of pods
// not followed names more than the one followed): a sidecar holds its own
// credential, and one another pod sends with, taking up this pod's name
// after a restart of it, covered the silence of its new sidecar under a
// label read as benign (TestSenderOfAnotherPodIsNoRotation). Nor when a
// batch not followed may have named the pod (mayBeOver): that sender's
// batches, at once with these, are not among them.
//
// A flood of pods by one sender leaves the others' rotations as they
// are: before, any pod not followed turned SENDER ROTATED off for every
// pod, a rotation of the real fleet reading SENDERS DIFFER, each sender
// silent before its first batch or after its last
// (TestPodFloodKeepsRotations).
func (s *senders) rotated(pod string, senders []string) (order []string, line *podBatches, ok bool) {
	if s.podsOver[""] > 0 || s.mayBeOver(pod) {
		return nil, nil, false
	}
	for _, sn := range senders {
		if s.podsOver[sn] > 0 {
			return nil, nil, false
		}
	}
	pbs := make([]*podBatches, len(senders))
	for i, sn := range senders {
		if pbs[i] = s.pods[sidecar{pod, sn}]; pbs[i] == nil {
			return nil, nil, false
		}
	}
	for k := range s.pods {
		if k.pod != pod && slices.Contains(senders, k.sender) {
			return nil, nil, false
		}
	}
	idx := make([]int, len(senders))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return pbs[idx[i]].first.Before(pbs[idx[j]].first) })
	line = &podBatches{first: pbs[idx[0]].first}
	for i, j := range idx {
		pb := pbs[j]
		if i > 0 {
			prev := pbs[idx[i-1]]
			restarted := slices.ContainsFunc(s.starts[pod], func(t time.Time) bool { return !t.Before(prev.last) && !t.After(pb.first) })
			if !pb.first.After(prev.last) || !restarted {
				return nil, nil, false
			}
			if pb.first.Sub(prev.last) > s.quiet {
				line.gaps = append(line.gaps, quietSpan{prev.last, pb.first})
			}
		}
		line.gaps = append(line.gaps, pb.gaps...)
		line.more += pb.more
		line.last = pb.last
		order = append(order, senders[j])
	}
	return order, line, true
}

// senderSilence returns the quiet spans of sc's batches within live, ""
// when none is longer than senders.quiet.
func (b *builder) senderSilence(sc sidecar, live []liveSpan, clip func(liveSpan, time.Time, time.Time) (time.Time, time.Time, bool), end time.Time) string {
	return b.lineSilence(mdCell(sc.pod)+" ("+mdBare(sc.sender)+")", b.senders.pods[sc], live, clip, end)
}

// lineSilence returns the quiet spans of pb's batches within live,
// named label, "" when none is longer than senders.quiet.
func (b *builder) lineSilence(label string, pb *podBatches, live []liveSpan, clip func(liveSpan, time.Time, time.Time) (time.Time, time.Time, bool), end time.Time) string {
	// The quiet spans over all time: before the first batch, between
	// two, after the last; each is silence where it meets a span the
	// pod was live.
	gaps := append([]quietSpan{{time.Time{}, pb.first}}, pb.gaps...)
	gaps = append(gaps, quietSpan{pb.last, end})
	var spans []string
	for _, g := range gaps {
		for _, l := range live {
			if a, z, ok := clip(l, g.from, g.to); ok {
				spans = append(spans, rfc(a)+" to "+rfc(z))
			}
		}
	}
	if pb.more > 0 {
		spans = append(spans, fmt.Sprintf("and %d more spans", pb.more))
	}
	if len(spans) == 0 {
		return ""
	}
	return label + ": no batch stored " + strings.Join(spans, ", ")
}

// mdBare is mdCell without the quotes: a sender's name, its
// certificate's identity when it sent with one (any bytes its CA
// signed), goes into the Markdown above the checklist's table, where a
// line break in it wrote rows of its own and [text](url) a link
// (TestSilenceLineEscapesSenderAndPod).
func mdBare(s string) string {
	q := strconv.Quote(alert.Unlinked(s))
	return mdCellEscaper.Replace(q[1 : len(q)-1])
}

// mergeSpans returns live in order of start, the spans that overlap
// made one, each keeping what bounds it.
func mergeSpans(live []liveSpan) []liveSpan {
	live = slices.Clone(live)
	sort.Slice(live, func(i, j int) bool { return live[i].from.Before(live[j].from) })
	var out []liveSpan
	for _, l := range live {
		if n := len(out); n > 0 && !l.from.After(out[n-1].to) {
			out[n-1].to = latest(out[n-1].to, l.to)
			continue
		}
		out = append(out, l)
	}
	return out
}

// memberHistory reads the history etcd keeps of the member records
// (Config.MemberHistory); a zero history when it is not read, with the
// note saying so.
func (b *builder) memberHistory() (etcdadmin.MemberHistory, string, error) {
	if b.cfg.MemberHistory == nil {
		return etcdadmin.MemberHistory{}, "The history of the member records was not read: a sidecar stopped before the pack was made has no member record left (its lease lapsed), and shows here only as its last batch stored before the period's end.", nil
	}
	h, bad, err := b.cfg.MemberHistory()
	if err != nil {
		return h, "", fmt.Errorf("cannot read the history of the member records: %w", err)
	}
	for _, s := range bad {
		b.warn("%s", s)
	}
	return h, "", nil
}

// revClock dates etcd revisions by the collector's clock, never a
// sidecar's: a member record's Started and Updated are its sidecar's
// own clock, and a sidecar whose clock is wrong (set ahead, or behind)
// moved the span its record counted live out of the period, hiding its
// silence. Two readings of the collector's clock bound a revision's
// write: an audit head it published in etcd names the time it signed
// it, just before the write at its revision (a lower bound of every
// later revision), and a lifecycle event it stored names when it read
// the write at its revision (an upper bound of every earlier one).
type revClock struct {
	heads, all []etcdadmin.DatedRevision // in revision order; all holds heads and events
	// headsUpTo[i] is the latest time of heads[:i+1]; allFrom[i] the
	// earliest of all[i:]: a collector's clock set back need not rise
	// with the revisions.
	headsUpTo, allFrom []time.Time
}

// etcdClock returns the collector's readings of h's cluster: the heads it
// published and the events of the store read from that cluster.
func (b *builder) etcdClock(h etcdadmin.MemberHistory, pods map[string]bool) revClock {
	var c revClock
	c.heads = b.headTimes(h)
	slices.SortStableFunc(c.heads, byRevision)
	c.headsUpTo = make([]time.Time, len(c.heads))
	for i, d := range c.heads {
		c.headsUpTo[i] = d.Time
		if i > 0 {
			c.headsUpTo[i] = latest(c.headsUpTo[i-1], d.Time)
		}
	}
	c.all = slices.Clone(c.heads)
	for _, ev := range b.allEvents {
		// Revisions compare within one cluster only (an etcd replaced
		// starts again from 1): an event of another, or of none named,
		// dates nothing here.
		if ev.Revision > 0 && h.Cluster != 0 && ev.Cluster == h.Cluster {
			c.all = append(c.all, etcdadmin.DatedRevision{Revision: ev.Revision, Time: ev.Time})
		}
	}
	// The records the collector stored name the revision their sidecar
	// had applied: by the time it stored the batch, that revision was
	// written. With no head published and few events, these are the
	// only readings after a sidecar's delete, which otherwise counted
	// live to the period's end (TestRecordsDateASidecarsDelete). The
	// revision is the sender's to write, so only one the pack knows was
	// written in this cluster counts (a policy push, a member record's
	// write or delete): a made-up revision dates nothing. And etcd's
	// revisions come one after another: a sidecar reads the one it is at
	// and can name the next hundred before they are written, dating a
	// delete to come early and hiding its own silence until it
	// (TestOneSenderNamingRevisionsAheadDatesNothing). So a revision
	// counts from when a second sender named it: one credential alone
	// dates nothing, and of two, the honest one names it only once
	// written. And only in batches of a pod with a member record in this
	// etcd (pods): a sidecar of another etcd, or in file mode, names
	// revisions of its own, numbers this etcd may write hours later
	// (TestRecordsOfPodsOfAnotherEtcdDateNothing).
	//
	// Two credentials can still both name revisions ahead. A head the
	// collector signed before its put at a revision below rev shows rev
	// written after that head's time: a reading dating rev before it is
	// false and dates nothing, so two senders' word dates a revision
	// early by at most the time since the last head below it (one
	// --sign-every with heads published in etcd;
	// TestTwoSendersNamingRevisionsAheadRefutedByAHead). Without heads
	// nothing refutes them: the pack says so (recordDated).
	written := writtenRevisions(b.cfg.History, h)
	for rev, seen := range b.seenRevisions {
		if !written[rev] || h.Cluster == 0 {
			continue
		}
		if t, ok := secondSender(seen, pods); ok && !t.Before(c.after(rev)) {
			// Revision rev was written by t: a reading "after" rev, as
			// revClock.by reads one at a revision above the one it dates.
			c.all = append(c.all, etcdadmin.DatedRevision{Revision: rev + 1, Time: t})
			b.recordDated = true
		}
	}
	slices.SortStableFunc(c.all, byRevision)
	c.allFrom = make([]time.Time, len(c.all)+1)
	for i := len(c.all) - 1; i >= 0; i-- {
		c.allFrom[i] = earliest(c.allFrom[i+1], c.all[i].Time)
	}
	return c
}

// secondSender returns when the second sender named a revision, of
// seen (in the order stored), counting only batches naming one of pods.
func secondSender(seen []revSeen, pods map[string]bool) (time.Time, bool) {
	first := ""
	for _, s := range seen {
		switch {
		case !pods[s.pod]:
		case first == "":
			first = s.sender
		case s.sender != first:
			return s.at, true
		}
	}
	return time.Time{}, false
}

// writtenRevisions are the revisions the pack read a write at: the
// policy pushes and the member records' puts and deletes.
func writtenRevisions(hist []etcdadmin.HistoryEntry, h etcdadmin.MemberHistory) map[int64]bool {
	w := map[int64]bool{}
	for _, e := range hist {
		w[e.Revision] = true
	}
	for _, d := range h.Dated {
		w[d.Revision] = true
	}
	for _, l := range h.Lives {
		w[l.Created], w[l.Deleted] = true, true
	}
	delete(w, 0)
	return w
}

// headTimes opens the heads put in etcd (h.Heads) with the collector's
// key and returns the times of those that verify, by revision. Only the
// collector's and the operators' etcd roles write audit/, but the pack
// does not take unsigned bytes for the collector's clock: a head written
// by hand naming an early time after a sidecar's record was deleted cut
// the span that sidecar counted live, and hid its silence
// (TestForgedHeadInEtcdDatesNothing). A head that does not verify, or
// that names an entry before one a head at a lower revision named (an
// older head put again), or a time before one such a head named (a head
// signed earlier and not published then, put later), dates nothing and
// is named INCOMPLETE, and
// without the key no head dates anything: the spans are then only
// longer, so more silence is named, never less. The same head put again
// dates only its first put, the one its time was read before.
func (b *builder) headTimes(h etcdadmin.MemberHistory) []etcdadmin.DatedRevision {
	if len(h.Heads) == 0 {
		return nil
	}
	if b.cfg.VerifyKey == nil {
		b.headsNote = fmt.Sprintf(" The %d audit head(s) put in etcd date nothing: no collector key was given to verify them with.", len(h.Heads))
		return nil
	}
	var out []etcdadmin.DatedRevision
	var bad []string
	// The same head is the same payload, not the same bytes: the
	// signature covers the payload only, so the document spaced
	// otherwise verifies as well, and was dated at its new put
	// (TestForgedHeadInEtcdDatesNothing, re-encoded).
	type headKey struct {
		seq  uint64
		hash string
		at   int64 // a time.Time compares its zone too
	}
	seen := map[headKey]bool{}
	var seq uint64
	var at time.Time // the latest time of a head that dates
	// Each head is checked against the key that signed the store at the
	// entry it names: the key before a rotation for a head before it,
	// the key after for one naming the rotation or after
	// (collector.KindKeyRotation). A store whose rotations do not verify
	// has its heads checked against the key given alone.
	openHead := func(doc []byte) (*collector.PublishedHead, error) { return collector.OpenHead(doc, b.cfg.VerifyKey) }
	keyNote := ""
	if keys, err := collector.LoadKeys(b.cfg.DataDir, b.cfg.VerifyKey); err == nil {
		openHead = keys.OpenHead
	} else {
		keyNote = fmt.Sprintf(" (the store's key rotations were not read: %v)", err)
	}
	for _, put := range h.Heads {
		ph, err := openHead(put.Doc)
		switch {
		case err != nil:
			// A head of a key the store's rotations do not name (a
			// key swapped without a rotation, a new store) reads
			// the same (docs/audit.md).
			bad = append(bad, fmt.Sprintf("revision %d does not verify with the store's key at the entry it names (forged, not a head, or signed with a key the store holds no verified rotation from)%s", put.Revision, keyNote))
			continue
		case ph.Seq < seq:
			bad = append(bad, fmt.Sprintf("revision %d names entry %d, before entry %d a head at a lower revision named (an older head put again)", put.Revision, ph.Seq, seq))
			continue
		case seen[headKey{ph.Seq, ph.Hash, ph.Time.UnixNano()}]:
			continue
		case ph.Time.Before(at):
			// The seq is no older, but the time is: a head the
			// collector signed and did not publish then (its
			// publication lost, a copy of head.json) put later. Its
			// time was read long before this put, and dated it early
			// (TestHeadGoingBackInTimeDatesNothing).
			bad = append(bad, fmt.Sprintf("revision %d names a time (%s) before %s, the time of a head at a lower revision (a head signed earlier put again, or the collector's clock set back)", put.Revision, rfc(ph.Time), rfc(at)))
			continue
		}
		seen[headKey{ph.Seq, ph.Hash, ph.Time.UnixNano()}], seq, at = true, ph.Seq, ph.Time
		out = append(out, etcdadmin.DatedRevision{Revision: put.Revision, Time: ph.Time})
	}
	if len(bad) > 0 {
		b.silent = append(b.silent, fmt.Sprintf("INCOMPLETE: %d audit head(s) put in etcd under audit/head are not the collector's heads in order: %s. They date no member record (only the collector and operators can write there: an operator wrote them, or etcd was restored), so the spans of the sidecars gone before the pack are dated without them, and the history of etcd the pack read is in doubt.",
			len(bad), firstTen(bad)))
	}
	return out
}

// byRevision orders dated revisions by revision.
func byRevision(x, y etcdadmin.DatedRevision) int { return cmp.Compare(x.Revision, y.Revision) }

// after returns the latest collector time known to be before revision
// rev was written (a head published at a revision below it); zero when
// none is.
func (c revClock) after(rev int64) time.Time {
	if i := sort.Search(len(c.heads), func(i int) bool { return c.heads[i].Revision >= rev }); i > 0 {
		return c.headsUpTo[i-1]
	}
	return time.Time{}
}

// by returns the earliest collector time known to be after revision rev
// was written (an event read, or a head published, at a revision above
// it); zero when none is. A head's time is read just before its write,
// so this is rev's time within the moment that write took.
func (c revClock) by(rev int64) time.Time {
	return c.allFrom[sort.Search(len(c.all), func(i int) bool { return c.all[i].Revision > rev })]
}

// start returns started, a sidecar's start by its own clock, held
// between the collector's readings around created, its member record's
// creation: no later than the first after it (a clock ahead hid the
// sidecar's silence), no earlier than the last before it (a clock behind
// counted it live, and silent, before its record was there).
func (c revClock) start(started time.Time, created int64) time.Time {
	if by := c.by(created); !by.IsZero() && started.After(by) {
		started = by
	}
	if after := c.after(created); started.Before(after) {
		started = after
	}
	return started
}

// departedSpans adds to spans, by pod, when each sidecar gone before
// the pack was made (its member record deleted: its lease revoked as it
// stopped, or lapsed) was up, from the history of the member records
// etcd keeps, and returns what it read for the Senders note. A record
// holds no time of its delete, and its sidecar's times are its own
// clock's, so a gone sidecar counts as up from its start (never later
// than the collector saw a revision after its record's creation) to the
// first reading of the collector's clock after its delete (clock.by),
// else to the pack: the span a wrong clock cannot shorten.
func (b *builder) departedSpans(spans map[string][]liveSpan, h etcdadmin.MemberHistory, clock revClock, end time.Time) string {
	gone := 0
	for _, l := range h.Lives {
		if l.Deleted == 0 {
			continue // live now: its record is among those read above
		}
		from := l.Started
		if l.Created != 0 {
			if from.IsZero() {
				// A record that says no start (an older sidecar's, or
				// written by hand): up from before its first put.
				from = clock.after(l.Created)
			} else {
				from = clock.start(from, l.Created)
			}
		}
		// Created before the oldest revision etcd keeps (Created 0), or
		// not dated: up from the period's start (from stays zero).
		to := clock.by(l.Deleted)
		how := fmt.Sprintf("gone before the pack: its member record deleted at etcd revision %d", l.Deleted)
		if t := clock.after(l.Deleted); !t.IsZero() {
			how += ", after " + rfc(t)
		}
		if to.IsZero() {
			to = end
			how += "; no reading of the collector's clock after it, so counted up to " + rfc(end)
		} else {
			how += " and by " + rfc(to) + " (the collector's clock); counted up to " + rfc(to)
		}
		spans[l.Pod] = append(spans[l.Pod], liveSpan{from: from, to: to, how: how})
		gone++
	}
	note := fmt.Sprintf("The history etcd keeps of the member records (revisions %d to %d) names %d record(s) of sidecars gone before the pack was made, each counted live from its start to the first reading of the collector's clock after its record's delete (an audit head it published in etcd, a lifecycle event it stored, at a later revision, or a batch it stored whose records name a revision written after the delete): a record holds no time of its delete, and a sidecar's own times are its clock's.", h.From, h.To, gone)
	if h.From > 1 {
		if oldest := clock.by(h.From - 1); oldest.IsZero() || oldest.After(b.cfg.Period.From) {
			b.silent = append(b.silent, fmt.Sprintf("INCOMPLETE: etcd compacted the history of the member records before revision %d, and no reading of the collector's clock dates that revision at or before the period's start: a sidecar live during period %s that went away before then has no record left, so its silence, if any, is not named in this pack.", h.From, b.cfg.Period.Name))
		}
	}
	return note
}

// latest returns the latest of ts.
func latest(ts ...time.Time) (t time.Time) {
	for _, x := range ts {
		if x.After(t) {
			t = x
		}
	}
	return t
}

// earliest returns the earliest of the non-zero ts.
func earliest(ts ...time.Time) (t time.Time) {
	for _, x := range ts {
		if !x.IsZero() && (t.IsZero() || x.Before(t)) {
			t = x
		}
	}
	return t
}

// firstPods names the first ten of pods, each a quoted cell, and counts
// the rest: a sender names as many pods as it likes, and every one of the
// 10,000 a sender's batches named was listed, a line of some 200 KB in
// the warnings and the pack's files (TestPodFloodHidesNoSilence).
func firstPods(pods []string) string {
	n := min(len(pods), 10)
	out := make([]string, n, n+1)
	for i := range n {
		out[i] = mdCell(pods[i])
	}
	if len(pods) > n {
		out = append(out, fmt.Sprintf("and %d more", len(pods)-n))
	}
	return strings.Join(out, ", ")
}

// podUnfollowed counts a batch of sender's naming pod, not followed.
func (s *senders) podUnfollowed(sender, pod string) {
	if s.podsOver == nil {
		s.podsOver = map[string]int{}
	}
	s.overPods.add(pod)
	if _, ok := s.podsOver[sender]; !ok && len(s.podsOver) >= s.max.all {
		sender = ""
	}
	s.podsOver[sender]++
}

// podsOverText says which senders' batches of the period name pods the
// pack did not follow for their silence; "" when it followed every pod.
func (s *senders) podsOverText(period string) string {
	if len(s.podsOver) == 0 {
		return ""
	}
	names := slices.Sorted(maps.Keys(s.podsOver))
	parts := make([]string, len(names))
	for i, sn := range names {
		parts[i] = fmt.Sprintf("%s: %d batches", cmp.Or(mdBare(sn), "other senders"), s.podsOver[sn])
	}
	return fmt.Sprintf("SILENCE NOT CHECKED: batches of period %s name pods the pack did not follow: %s. The pack follows at most %d pods of one sender and %d in all, the first stored first; pod names are their sender's to write, so a sender naming a new pod in each batch may be taking the places of other sidecars: the silence of the pods not followed is not checked, a live sidecar among them reads as having stored no batch, and a pod a batch not followed may have named, or whose senders include one of these, is not read as a credential rotated (SENDERS DIFFER). %s",
		period, firstTen(parts), s.max.perSender, s.max.all, s.max.advice(s.podsOver, "pods"))
}

// firstTen joins the first ten of parts, counting the rest.
func firstTen(parts []string) string {
	if len(parts) > 10 {
		parts = append(parts[:10:10], fmt.Sprintf("and %d more", len(parts)-10))
	}
	return strings.Join(parts, "; ")
}

// sharedSenders names the senders whose batches of the period name more
// than one pod, with the number of pods they name; "" when none does. A
// sender token shared by the sidecars (the Kubernetes base gives each
// namespace one) lets any sidecar holding it send batches naming another
// pod: its silence is checked per pod and sender, and one sender naming
// another's pod reads as that pod's own batches (with a token of its own
// it reads SENDERS DIFFER). So the silence of these pods is checked only
// as far as every holder of the token is honest, and one credential's
// records date no etcd revision (etcdClock): the Period Covered says so
// (TestPeriodCoveredNamesUncheckedSilence).
func (b *builder) sharedSenders() (string, int) {
	by := map[string][]string{}
	for k := range b.senders.pods {
		if k.pod != "" {
			by[k.sender] = append(by[k.sender], k.pod)
		}
	}
	var parts []string
	pods := 0
	for sender, ps := range by {
		if len(ps) < 2 {
			continue
		}
		slices.Sort(ps)
		pods += len(ps)
		parts = append(parts, mdBare(sender)+" ("+firstPods(ps)+")")
	}
	if len(parts) == 0 {
		return "", 0
	}
	slices.Sort(parts)
	return fmt.Sprintf("SHARED SENDER: the batches of %d sender(s) name more than one pod: %s. The pod a batch names is its sender's to write, so a sidecar holding such a credential can send batches naming another of its pods and cover that pod's silence, with nothing to tell them apart (a sender of its own naming another's pod reads SENDERS DIFFER): the silence of these pods is checked only as far as every holder of the credential is honest. Nor do their records date an etcd revision (one credential's word dates nothing): a gone sidecar of these pods counts live to the collector's next head or event after its delete.",
		len(parts), firstTen(parts)), pods
}

// mayBeOver says whether a batch not followed may have named pod.
func (s *senders) mayBeOver(pod string) bool {
	return len(s.podsOver) > 0 && s.overPods.has(pod)
}

// podSet is a Bloom filter of the pods named by batches not followed: a
// flood names as many as it likes, so they are not kept, yet a pod of
// the fleet one of them named must not read as its credential rotated.
// A false "has" reads a rotation as SENDERS DIFFER, loud and safe; a
// false "has not" cannot happen. Its hashes are fixed, so a pack is the
// same made twice; a sender that crafts names to fill it gets every
// pod's rotation read SENDERS DIFFER, as any flood of pods once did.
type podSet struct{ bits []uint64 }

// podSetBits is the filter's size: 128 KiB, below 1% false at 100,000
// pods with podSetHashes hashes.
const (
	podSetBits   = 1 << 20
	podSetHashes = 7
)

func (p *podSet) add(pod string) {
	if p.bits == nil {
		p.bits = make([]uint64, podSetBits/64)
	}
	h1, h2 := podHashes(pod)
	for i := range uint64(podSetHashes) {
		b := (h1 + i*h2) % podSetBits
		p.bits[b/64] |= 1 << (b % 64)
	}
}

func (p *podSet) has(pod string) bool {
	if p.bits == nil {
		return false
	}
	h1, h2 := podHashes(pod)
	for i := range uint64(podSetHashes) {
		b := (h1 + i*h2) % podSetBits
		if p.bits[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// podHashes are two hashes of pod (FNV-1a, and it again salted) for the
// filter's double hashing.
func podHashes(pod string) (uint64, uint64) {
	h := fnv.New64a()
	h.Write([]byte(pod))
	h1 := h.Sum64()
	h.Write([]byte{0xff})
	return h1, h.Sum64() | 1
}
