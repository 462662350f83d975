package evidence

import (
	"fmt"
	"math"
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

// checkSilence reads the member records (Config.Members) and sets
// b.silent to what the live sidecars' silence leaves out, and
// b.silenceNote to what was checked.
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
	sort.Slice(trails, func(i, j int) bool { return trails[i].Pod < trails[j].Pod })
	end := b.cfg.Period.To
	if !b.partial.IsZero() {
		end = b.partial
	}
	var quietText, neverText []string
	for _, t := range trails {
		if len(t.Versions) == 0 {
			continue
		}
		// Live from when its process started (the record's Started;
		// unknown counts from the period's start) until the pack.
		from := b.cfg.Period.From
		if st := t.Versions[len(t.Versions)-1].Started; st.After(from) {
			from = st
		}
		if end.Sub(from) <= quiet {
			continue // live too briefly in the period to tell silence from no requests
		}
		pod := strconv.Quote(t.Pod)
		pb := b.senders.pods[t.Pod]
		if pb == nil {
			s := fmt.Sprintf("%s (live from %s)", pod, rfc(from))
			if b.senders.podsOver {
				s += fmt.Sprintf(" or among pods past the first %d, not followed", maxInstances)
			}
			neverText = append(neverText, s)
			continue
		}
		var spans []string
		span := func(a, z time.Time) {
			if a.Before(from) {
				a = from
			}
			if z.After(end) {
				z = end
			}
			if z.Sub(a) > quiet {
				spans = append(spans, rfc(a)+" to "+rfc(z))
			}
		}
		span(from, pb.first)
		for _, g := range pb.gaps {
			span(g.from, g.to)
		}
		if pb.more > 0 {
			spans = append(spans, fmt.Sprintf("and %d more spans", pb.more))
		}
		span(pb.last, end)
		if len(spans) > 0 {
			quietText = append(quietText, pod+": no batch stored "+strings.Join(spans, ", "))
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
	b.silenceNote = fmt.Sprintf("Silence checked against the member records in etcd of the %d sidecars live when the pack was made: one live during the period that stored no batch for longer than %s, or none at all, is named INCOMPLETE above. A sidecar stopped before the pack was made has no member record left (its lease lapsed): it shows here only as its last batch stored before the period's end.",
		len(trails), quiet)
	if note != "" {
		b.silenceNote += " (" + note + ")"
	}
	b.silenceNote += "\n\n"
	return nil
}

// firstTen joins the first ten of parts, counting the rest.
func firstTen(parts []string) string {
	if len(parts) > 10 {
		parts = append(parts[:10:10], fmt.Sprintf("and %d more", len(parts)-10))
	}
	return strings.Join(parts, "; ")
}
