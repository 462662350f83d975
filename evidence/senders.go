package evidence

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// A sidecar numbers its batches, one more a batch (collector.SplitBatchID),
// and a batch it drops takes its number too: its spool full while the
// collector was away, a batch the collector refused for good, a spool
// file lost. So the numbers missing between two batches of one sidecar
// process the store holds are batches whose records the pack never saw,
// which the store alone cannot show otherwise. The pack follows, for the
// entries holding the period's records, each sender, pod and instance.

// The pack follows the instances and the pods of each sender (below, and
// silence.go) up to a bound a sender, and ten times that in all: the
// names are the sender's to write, and when the first stored took every
// place, one sender naming a new instance or pod in each of 10,000 tiny
// batches before a period's first real batch left every other sidecar's
// missing batches uncounted and its silence unchecked
// (TestInstanceFloodHidesNoLostBatches, TestPodFloodHidesNoSilence). The
// batches of instances and pods past either bound are counted by sender,
// and the pack says so (unfollowedText, podsOverText).
//
// A real deployment whose sidecars share one token (the Kubernetes base
// gives each namespace one) has a new instance at every restart and a new
// pod name at every rollout, so its count grows with the period: a fixed
// 10,000 made every quarter's pack of a namespace of a few hundred pods
// INCOMPLETE (TestSharedTokenQuarterIsFollowed). The bound scales with
// the period's days (DefaultMaxPerSender), and Config.MaxPerSender
// (--max-instances-per-sender) sets it.
const (
	perSenderPerDay = 10000  // instances or pods of one sender a day of the period
	maxPerSenderDef = 100000 // the default bound's largest
	allSenders      = 10     // the bound of them all, in bounds of one sender
)

// DefaultMaxPerSender is the instances (and pods) of one sender a pack of
// p follows when Config.MaxPerSender is 0: 10,000 a day of the period, at
// most 100,000 (a quarter), so a flood by one credential is bounded as a
// day's was and a shared token's fleet restarting daily is followed.
func DefaultMaxPerSender(p Period) int {
	days := int((p.To.Sub(p.From) + 24*time.Hour - 1) / (24 * time.Hour))
	return min(max(days, 1)*perSenderPerDay, maxPerSenderDef)
}

// bounds are how many instances, and pods, the pack follows of one
// sender and in all.
type bounds struct{ perSender, all int }

// newBounds returns the bounds of a pack of one sender's perSender (0:
// DefaultMaxPerSender of p).
func newBounds(perSender int, p Period) bounds {
	if perSender <= 0 {
		perSender = DefaultMaxPerSender(p)
	}
	return bounds{perSender, max(perSender*allSenders, 100000)}
}

// instanceKey is one sidecar process: who sent its batches (as the
// collector authenticated it), the pod it named and its instance id.
type instanceKey struct{ sender, pod, instance string }

// instanceBatches are the batches of one instance holding records of the
// period.
type instanceBatches struct {
	batches     int
	lo, hi      uint64    // the lowest and highest sequence among them; 0 when none has one
	first, last time.Time // when the collector stored the first and the last
}

// missing is how many sequences between lo and hi no batch stored has.
func (ib *instanceBatches) missing() uint64 {
	// A batch stored twice (which the store's deduplication refuses)
	// would make the span shorter than the count: none missing, never a
	// count that wraps.
	if span := ib.hi - ib.lo + 1; ib.hi != 0 && span > uint64(ib.batches) {
		return span - uint64(ib.batches)
	}
	return 0
}

// senders follows the batches of the period's records.
type senders struct {
	by    map[instanceKey]*instanceBatches
	over  map[string]int       // batches of instances not followed, by sender ("" past max.all senders)
	per   map[string]int       // instances followed, by sender
	plain map[instanceKey]bool // instances of ids without a sequence
	last  entryPos             // the entry counted last: one count an entry, not a record
	seen  bool                 // whether last is set
	// pods are the times of each pod's batches (silence.go), by pod and
	// sender: a member record names the pod only, and the pod a batch
	// names is its sender's to write.
	pods     map[sidecar]*podBatches
	podsOver map[string]int // batches of pods not followed, by sender ("" past max.all senders)
	podsPer  map[string]int // pods followed, by sender
	overPods podSet         // the pods batches not followed named
	// starts are when each pod's sidecars started, by their member
	// records (checkSilence): a credential changes only with a new
	// process, so senders one after the other with a start between
	// them are one sidecar's credential rotated (rotated).
	starts map[string][]time.Time
	// quiet is how long a pod may store no batch before its gap is
	// kept (Config.Silence); set before the store is read.
	quiet time.Duration
	// max bounds the instances and the pods followed (newBounds); set
	// before the store is read.
	max bounds
}

// add counts entry e, which holds a record of the period, once.
func (s *senders) add(e *collector.Entry) {
	at := entryPos{e.Segment, e.Index}
	if s.seen && at == s.last {
		return
	}
	s.last, s.seen = at, true
	s.addPod(e)
	inst, seq, ok := collector.SplitBatchID(e.BatchID)
	if !ok {
		inst = ""
	}
	k := instanceKey{e.Sender, e.Pod, inst}
	ib := s.by[k]
	if ib == nil {
		if len(s.by) >= s.max.all || s.per[e.Sender] >= s.max.perSender {
			s.unfollowed(e.Sender)
			return
		}
		if s.by == nil {
			s.by, s.per = map[instanceKey]*instanceBatches{}, map[string]int{}
		}
		s.per[e.Sender]++
		ib = &instanceBatches{first: e.Time}
		s.by[k] = ib
	}
	if !ok {
		// An id without a sequence (an OTLP client's) says nothing of
		// the batches before it; counted apart, never as a gap.
		if s.plain == nil {
			s.plain = map[instanceKey]bool{}
		}
		s.plain[k] = true
	}
	ib.batches++
	if e.Time.Before(ib.first) {
		ib.first = e.Time
	}
	if e.Time.After(ib.last) {
		ib.last = e.Time
	}
	if ok {
		if ib.hi == 0 || seq < ib.lo {
			ib.lo = seq
		}
		ib.hi = max(ib.hi, seq)
	}
}

// unfollowed counts a batch of sender's from an instance not followed.
func (s *senders) unfollowed(sender string) {
	if s.over == nil {
		s.over = map[string]int{}
	}
	if _, ok := s.over[sender]; !ok && len(s.over) >= s.max.all {
		sender = ""
	}
	s.over[sender]++
}

// unfollowedBatches is how many batches came from instances not followed.
func (s *senders) unfollowedBatches() int {
	n := 0
	for _, c := range s.over {
		n += c
	}
	return n
}

// unfollowedText says which senders' batches of the period came from
// instances not followed, whose missing batches lostText cannot count; ""
// when every instance was followed.
func (b *builder) unfollowedText() string {
	n := b.senders.unfollowedBatches()
	if n == 0 {
		return ""
	}
	names := slices.Sorted(maps.Keys(b.senders.over))
	parts := make([]string, 0, min(len(names), 11))
	for i, sn := range names {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("and %d more senders", len(names)-10))
			break
		}
		parts = append(parts, fmt.Sprintf("%s: %d batches", cmp.Or(mdBare(sn), "other senders"), b.senders.over[sn]))
	}
	return fmt.Sprintf("INCOMPLETE: %d batches holding the period's records came from sidecar instances the pack did not follow (past the first %d instances of their sender, or %d in all), so the batches missing among theirs are not counted: %s. Instance ids are their sender's to write: a sender naming a new one in each batch may be hiding another sidecar's lost batches behind its own. %s",
		n, b.senders.max.perSender, b.senders.max.all, strings.Join(parts, "; "), b.senders.max.advice(b.senders.over, "instances"))
}

// advice tells the operator what to do of senders whose batches named
// instances or pods (what) past the bound: over counts those batches by
// sender. Each such batch names at most one more, so the bound plus the
// most batches of one sender follows them all.
func (m bounds) advice(over map[string]int, what string) string {
	most := 0
	for sn, n := range over {
		if sn != "" {
			most = max(most, n)
		}
	}
	return fmt.Sprintf("If a sender named is a deployment whose sidecars share one credential (each restart a new instance, each rollout new pods), build the pack again with --max-instances-per-sender %d (the %d %s it follows of one sender, and one for each batch not followed), or give each sidecar a credential of its own; if it is not, its credential sent batches in another's name: replace it, and read this period's records of it as an attacker's.",
		m.perSender+most, m.perSender, what)
}

// lost returns the instances with batches missing, most first, and how
// many batches they miss in all.
func (s *senders) lost() ([]instanceKey, uint64) {
	var keys []instanceKey
	var n uint64
	for k, ib := range s.by {
		if s.plain[k] {
			continue
		}
		if m := ib.missing(); m > 0 {
			keys, n = append(keys, k), n+m
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		mi, mj := s.by[keys[i]].missing(), s.by[keys[j]].missing()
		if mi != mj {
			return mi > mj
		}
		return keys[i].String() < keys[j].String()
	})
	return keys, n
}

// String names k: "pod (sender) instance I", the pod left out when none
// was named.
func (k instanceKey) String() string {
	return sidecar{k.pod, k.sender}.String() + " instance " + strconv.Quote(k.instance)
}

// text names k as the pack's lines of Markdown name a sidecar: its pod
// and instance, a sender's to write, each one quoted cell of text
// (mdCell), and its sender bare (mdBare). Printed as they were, a pod's
// line breaks, Markdown and escape sequences became lines, links and
// HTML of the pack's files, and reached the terminal of whoever made it
// in its warnings (TestLostBatchesNamePodAsText).
func (k instanceKey) text() string {
	name := mdBare(k.sender)
	if k.pod != "" {
		name = mdCell(k.pod) + " (" + name + ")"
	}
	return name + " instance " + mdCell(k.instance)
}

// lostText says which batches of the period's sidecars never reached the
// store; "" when none is missing.
func (b *builder) lostText() string {
	keys, n := b.senders.lost()
	if n == 0 {
		return ""
	}
	const shown = 10
	var parts []string
	for i, k := range keys {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more instances", len(keys)-shown))
			break
		}
		ib := b.senders.by[k]
		parts = append(parts, fmt.Sprintf("%s: %d of its batches %d to %d (stored %s to %s)", k.text(), ib.missing(), ib.lo, ib.hi, rfc(ib.first), rfc(ib.last)))
	}
	return fmt.Sprintf("INCOMPLETE: %d batches the period's sidecars numbered are not in the store: their sequence numbers are missing between batches of the period it holds (dropped by a sidecar whose spool was full while the collector was away, refused by the collector, lost with a spool file, left out as failing their checks, or, rarely, holding only records dated outside the period): %s. The records they held are not in this pack: its counts, samples and answers do not include them.",
		n, strings.Join(parts, "; "))
}

// sendersTable writes, for the retention file, each sidecar's batches of
// the period: by sender and pod, its instances, batches, when the first
// and the last were stored, and the batches missing; a sidecar that
// stopped sending shows its last batch stored before the period's end.
func (b *builder) sendersTable() string {
	type row struct {
		sidecar
		instances, batches int
		missing            uint64
		first, last        time.Time
	}
	rows := map[sidecar]*row{}
	for k, ib := range b.senders.by {
		sc := sidecar{k.pod, k.sender}
		r := rows[sc]
		if r == nil {
			r = &row{sidecar: sc, first: ib.first, last: ib.last}
			rows[sc] = r
		}
		r.instances++
		r.batches += ib.batches
		if !b.senders.plain[k] {
			r.missing += ib.missing()
		}
		if ib.first.Before(r.first) {
			r.first = ib.first
		}
		if ib.last.After(r.last) {
			r.last = ib.last
		}
	}
	if len(rows) == 0 {
		return "## Senders\n\nNo batch of the store holds a record of the period.\n\n" + b.silenceNote + "\n\n"
	}
	list := make([]*row, 0, len(rows))
	for _, r := range rows {
		list = append(list, r)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].String() < list[j].String() })
	var w strings.Builder
	w.WriteString("## Senders\n\nThe batches holding the period's records, by sidecar (pod and sender as the collector authenticated it): a sidecar that stopped sending shows its last batch stored before the period's end, and batches a sidecar numbered that the store does not hold are counted as missing.\n\n")
	w.WriteString("| sidecar | instances | batches | first stored | last stored | batches missing |\n|---|---|---|---|---|---|\n")
	for _, r := range list {
		fmt.Fprintf(&w, "| %s | %d | %d | %s | %s | %d |\n", mdCell(r.String()), r.instances, r.batches, rfc(r.first), rfc(r.last), r.missing)
	}
	if n := b.senders.unfollowedBatches(); n > 0 {
		fmt.Fprintf(&w, "\n%d more batches came from instances not followed one by one (INCOMPLETE, above).\n", n)
	}
	if shared := b.podsOfSenders(); shared != "" {
		fmt.Fprintf(&w, "\n%s\n", shared)
		b.warn("%s", shared)
	}
	w.WriteString("\n" + b.silenceNote)
	return w.String()
}

// podsOfSenders names the pods whose batches came from more than one
// sender, "" when none did: the pod a batch names is its sender's to
// write, so a token of one sidecar sending another pod's name makes
// records that read as that pod's. A pod's sidecar holds one credential
// and reads it at start: senders one after the other with a start of
// the pod's sidecar between them (its member records) are its credential
// rotated (SENDER ROTATED), named for the reviewer to match with the
// change that rotated it; any other pair (batches at once, or a sender
// taking up the name with no restart between) is SENDERS DIFFER.
func (b *builder) podsOfSenders() string {
	by := map[string][]string{}
	for k := range b.senders.by {
		if k.pod != "" && !slices.Contains(by[k.pod], k.sender) {
			by[k.pod] = append(by[k.pod], k.sender)
		}
	}
	var differ, rotated []string
	for pod, ss := range by {
		if len(ss) < 2 {
			continue
		}
		slices.Sort(ss)
		if order, _, ok := b.senders.rotated(pod, ss); ok {
			var steps []string
			for _, s := range order {
				pb := b.senders.pods[sidecar{pod, s}]
				steps = append(steps, fmt.Sprintf("%s %s to %s", mdCell(s), rfc(pb.first), rfc(pb.last)))
			}
			rotated = append(rotated, mdCell(pod)+" ("+strings.Join(steps, ", then ")+")")
			continue
		}
		for i := range ss {
			ss[i] = mdCell(ss[i])
		}
		differ = append(differ, mdCell(pod)+" ("+strings.Join(ss, ", ")+")")
	}
	sort.Strings(differ)
	sort.Strings(rotated)
	var out []string
	if len(differ) > 0 {
		out = append(out, fmt.Sprintf("SENDERS DIFFER: the batches naming %d pod(s) came from more than one sender, not one sidecar's credential rotated (their batches overlap in time, no member record shows the pod's sidecar restarted between one sender's last batch and the next one's first, one of them names another pod too, or a batch the pack did not follow may have named the pod: SILENCE NOT CHECKED): %s. The pod a batch names is its sender's to write: one of them may be another sidecar's credential sending that pod's name, its records reading as that pod's (each sender's silence is checked apart).",
			len(differ), firstTen(differ)))
	}
	if len(rotated) > 0 {
		out = append(out, fmt.Sprintf("SENDER ROTATED: the batches naming %d pod(s) came from one sender after another, never two at once, the pod's sidecar restarting between them by its member records (when each sent, by the collector's clock): %s. Read as the pod's sidecar restarted with a new credential (a token renamed, a certificate rotated), and its silence checked as one line: match each change with the change record of the rotation.",
			len(rotated), firstTen(rotated)))
	}
	return strings.Join(out, "\n\n")
}
