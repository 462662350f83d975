package evidence

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/collector"
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

// addPod notes entry e's time for its pod; the store's entries come in
// the order stored.
func (s *senders) addPod(e *collector.Entry) {
	pb := s.pods[e.Pod]
	if pb == nil {
		if len(s.pods) >= maxInstances {
			s.podsOver = true
			return
		}
		if s.pods == nil {
			s.pods = map[string]*podBatches{}
		}
		s.pods[e.Pod] = &podBatches{first: e.Time, last: e.Time}
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
	spans := map[string][]liveSpan{}
	for _, t := range trails {
		if len(t.Versions) == 0 {
			continue
		}
		// Live from when its process started (the record's Started;
		// unknown counts from the period's start) until the pack.
		spans[t.Pod] = append(spans[t.Pod], liveSpan{from: t.Versions[len(t.Versions)-1].Started, to: end})
	}
	histNote, err := b.departedSpans(spans)
	if err != nil {
		return err
	}
	pods := make([]string, 0, len(spans))
	for pod := range spans {
		pods = append(pods, pod)
	}
	sort.Strings(pods)
	var quietText, neverText []string
	for _, p := range pods {
		q, never := b.podSilence(p, spans[p], end)
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
	b.silenceNote += " " + histNote
	if note != "" {
		b.silenceNote += " (" + note + ")"
	}
	b.silenceNote += "\n\n"
	return nil
}

// podSilence returns what pod's batches leave silent of its live spans:
// the quiet spans longer than senders.quiet within them, or, when the
// pod stored no batch at all, the spans it was live.
func (b *builder) podSilence(pod string, live []liveSpan, end time.Time) (quietText, neverText string) {
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
	name := strconv.Quote(pod)
	pb := b.senders.pods[pod]
	if pb == nil {
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
		if b.senders.podsOver {
			s += fmt.Sprintf(" or among pods past the first %d, not followed", maxInstances)
		}
		return "", s + suffix
	}
	// The pod's quiet spans over all time: before its first batch,
	// between two, after its last; each is silence where it meets a span
	// the pod was live.
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
		return "", ""
	}
	return name + ": no batch stored " + strings.Join(spans, ", ") + suffix, ""
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

// departedSpans adds to spans, by pod, when each sidecar gone before
// the pack was made (its member record deleted: its lease revoked as it
// stopped, or lapsed) was up, from the history of the member records
// etcd keeps (Config.MemberHistory), and returns what it read for the
// Senders note. A record holds no time of its delete, so a gone sidecar
// counts as up from its start to the last member write (its own or
// another sidecar's) before the delete: it was up then, and may have
// been up until the next write after it, which the text names.
func (b *builder) departedSpans(spans map[string][]liveSpan) (string, error) {
	if b.cfg.MemberHistory == nil {
		return "The history of the member records was not read: a sidecar stopped before the pack was made has no member record left (its lease lapsed), and shows here only as its last batch stored before the period's end.", nil
	}
	h, bad, err := b.cfg.MemberHistory()
	if err != nil {
		return "", fmt.Errorf("cannot read the history of the member records: %w", err)
	}
	for _, s := range bad {
		b.warn("%s", s)
	}
	// dated are the member writes in revision order; up and by return
	// the times of the last write before rev and the first after it,
	// from the latest time up to each write and the earliest from each
	// on: the writes are many sidecars', each dated by its own clock, so
	// their times need not rise with their revisions.
	dated := h.Dated
	upTo := make([]time.Time, len(dated))
	fromOn := make([]time.Time, len(dated)+1)
	for i, d := range dated {
		upTo[i] = d.Time
		if i > 0 {
			upTo[i] = latest(upTo[i-1], d.Time)
		}
	}
	for i := len(dated) - 1; i >= 0; i-- {
		fromOn[i] = earliest(fromOn[i+1], dated[i].Time)
	}
	up := func(rev int64) time.Time {
		if i := sort.Search(len(dated), func(i int) bool { return dated[i].Revision >= rev }); i > 0 {
			return upTo[i-1]
		}
		return time.Time{}
	}
	by := func(rev int64) time.Time {
		return fromOn[sort.Search(len(dated), func(i int) bool { return dated[i].Revision > rev })]
	}
	gone := 0
	for _, l := range h.Lives {
		if l.Deleted == 0 {
			continue // live now: its record is among those read above
		}
		from := l.Started
		if from.IsZero() && l.Created != 0 {
			// A record that says no start (an older sidecar's, or
			// written by hand): up from its first put. It was left out,
			// its silence named nowhere.
			if i := sort.Search(len(dated), func(i int) bool { return dated[i].Revision >= l.Created }); i < len(dated) {
				from = dated[i].Time
			}
		}
		if l.Created == 0 {
			// Created before the oldest revision etcd keeps: up at
			// every write read before its delete.
			from = time.Time{}
			for _, d := range dated {
				if d.Revision < l.Deleted {
					from = d.Time
					break
				}
			}
		}
		to := up(l.Deleted)
		if from.IsZero() || to.IsZero() {
			continue
		}
		how := fmt.Sprintf("gone before the pack: its member record deleted at etcd revision %d, after %s", l.Deleted, rfc(to))
		if t := by(l.Deleted); !t.IsZero() {
			how += " and by " + rfc(t)
		}
		how += "; counted up to " + rfc(to)
		spans[l.Pod] = append(spans[l.Pod], liveSpan{from: from, to: to, how: how})
		gone++
	}
	note := fmt.Sprintf("The history etcd keeps of the member records (revisions %d to %d) names %d record(s) of sidecars gone before the pack was made, each counted live from its start to the last member write read before its record's delete (a record holds no time of its delete; it may have served until the next write).", h.From, h.To, gone)
	if h.From > 1 {
		var oldest time.Time
		if len(dated) > 0 {
			oldest = dated[0].Time
		}
		if oldest.IsZero() || oldest.After(b.cfg.Period.From) {
			b.silent = append(b.silent, fmt.Sprintf("INCOMPLETE: etcd compacted the history of the member records before revision %d, and no member write it keeps is dated at or before the period's start: a sidecar live during period %s that went away before then has no record left, so its silence, if any, is not named in this pack.", h.From, b.cfg.Period.Name))
		}
	}
	return note, nil
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

// firstTen joins the first ten of parts, counting the rest.
func firstTen(parts []string) string {
	if len(parts) > 10 {
		parts = append(parts[:10:10], fmt.Sprintf("and %d more", len(parts)-10))
	}
	return strings.Join(parts, "; ")
}
