package collector

import (
	"container/list"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"time"
)

// A sidecar's batch id is its instance id, '-' and a sequence number that
// grows by one a batch (audit: appendBatchID); its spool replays the
// oldest batch first, so an instance's batches arrive in order but for
// the few in flight at once. The store deduplicates them per sender and
// instance with a high-water mark and a window of dedupWindow sequence
// numbers below it: memory per instance, not per batch. A batch at or
// below the window's floor cannot be told from one stored before and is
// refused, ErrBatchOutsideWindow, never stored twice nor acknowledged as
// a duplicate unseen. Each sender keeps its dedupInstances most recently
// heard instances (a sidecar process is one, with a new random id each
// start); an instance forgotten that way starts again as new. Other ids (an OTLP
// client's body digest, any id without a sequence) are remembered per
// sender, the last dedupOthers of them.
//
// Senders named by a client certificate are as many as the client CA
// issues (one per pod, say), so their state is bounded too: a certificate
// sender idle longer than StoreConfig.SenderIdle is forgotten (once its
// second sums, ceiling.go, can no longer be charged), and at most
// StoreConfig.MaxCertSenders of them are live at once; a new one past that
// is refused (ErrTooManySenders, 503 cert_senders_full) until one is idle
// long enough. What a forgotten instance had stored is kept compactly, its
// high-water mark and which of the forgottenWindow sequences up to it are
// stored (dedupForgotten instances in all; when more are forgotten, the
// oldest mark of the sender holding the most goes): a batch of it
// in that window is judged exactly, stored once or acknowledged as a
// duplicate, and one below it is refused as outside the window, never
// stored twice. A fleet of more than dedupInstances sidecars on one token
// has its instances forgotten between their batches: with the mark alone,
// a batch arriving after a later one of its instance (a 503 retried) was
// refused, and the sidecar drops a batch so refused, records never stored
// (TestForgottenInstanceLateBatchStored).

const (
	dedupWindow    = 4096  // sequence numbers below an instance's newest, deduplicated exactly
	dedupInstances = 1024  // instances remembered per sender
	dedupOthers    = 4096  // ids without a sequence remembered per sender
	dedupForgotten = 65536 // high-water marks of forgotten instances kept
	// forgottenWindow is how many sequences up to a forgotten instance's
	// mark are remembered exactly (bits of forgottenIDs).
	forgottenWindow = 64
	// dedupCounts is how many of an instance's last batches stored have
	// their number of records remembered (instanceIDs.recent).
	dedupCounts = 8
	// dedupReplays is how many of an instance's last batches stored by a
	// replay have its token remembered (replayIDs.tokens): a sidecar
	// replays one batch at a time, and moves on only once it is answered,
	// so the replay whose answer was lost is among them when it is sent
	// again; live batches do not push it out.
	dedupReplays = 8

	// DefaultMaxCertSenders is StoreConfig.MaxCertSenders when 0.
	DefaultMaxCertSenders = 4096
	// DefaultSenderIdle is StoreConfig.SenderIdle when 0.
	DefaultSenderIdle = 24 * time.Hour
)

// ErrTooManySenders is returned (wrapped) by AppendBatch for a batch of a
// certificate sender the store does not hold state for while
// StoreConfig.MaxCertSenders others are live; the Collector answers 503
// cert_senders_full with Retry-After, and the sidecar keeps the batch.
var ErrTooManySenders = errors.New("collector: too many live certificate senders")

// ErrBatchOutsideWindow is returned (wrapped) by AppendBatch for a batch
// whose sequence lies dedupWindow or more below the newest stored of its
// sender's instance: whether it was stored before is no longer known, so
// it is not stored; the Collector answers 409 batch_outside_window.
var ErrBatchOutsideWindow = errors.New("collector: batch older than the deduplication window")

// dedup is the store's memory of the batch ids it holds. Not safe for
// concurrent use: the store's lock guards it.
type dedup struct {
	senders   map[string]*senderIDs
	maxCert   int           // live certificate senders at most; 0: no bound
	idle      time.Duration // a certificate sender idle this long is forgotten; 0: never
	certs     int           // live certificate senders
	swept     time.Time     // when idle senders were last forgotten
	forgotten map[uint64]forgottenIDs
	fof       map[string]*forgottenOf // forgotten's keys by sender
	fby       map[int]map[string]bool // the senders in fof by how many keys they hold
	fmax      int                     // the most keys a sender in fof holds
}

// forgottenOf are the keys in dedup.forgotten of one sender's instances,
// oldest first.
type forgottenOf struct {
	keys []uint64
	head int // keys[head:] are held
}

func (f *forgottenOf) len() int { return len(f.keys) - f.head }

// pop removes and returns the oldest key.
func (f *forgottenOf) pop() uint64 {
	k := f.keys[f.head]
	if f.head++; f.head >= 64 && f.head*2 >= len(f.keys) {
		f.keys = append(f.keys[:0], f.keys[f.head:]...)
		f.head = 0
	}
	return k
}

// isCert reports whether sender is named by a client certificate.
func isCert(sender string) bool { return strings.HasPrefix(sender, "cert:") }

// forgottenKey is the key of sender's instance inst in forgotten: a hash
// seeded per process, since a sender names its own instances and could
// otherwise pick one whose key is another sender's, and plant a mark that
// refuses that sender's batches. The marks are rebuilt from the trail at
// each start, so the seed need not last.
func forgottenKey(sender, inst string) uint64 {
	var h maphash.Hash
	h.SetSeed(forgottenSeed)
	h.WriteString(sender)
	h.WriteByte(0)
	h.WriteString(inst)
	return h.Sum64()
}

var forgottenSeed = maphash.MakeSeed()

// forgottenIDs are what is kept of a forgotten instance: its newest
// sequence stored, and bit i of bits says whether high-i is stored.
type forgottenIDs struct {
	high, bits uint64
}

// merge returns f with the sequences of o (high, bits) added.
func (f forgottenIDs) merge(o forgottenIDs) forgottenIDs {
	hi := max(f.high, o.high)
	return forgottenIDs{high: hi, bits: shiftBits(f.bits, hi-f.high) | shiftBits(o.bits, hi-o.high)}
}

// shiftBits is bits of a mark n sequences below: bit i becomes bit i+n.
func shiftBits(bits, n uint64) uint64 {
	if n >= forgottenWindow {
		return 0
	}
	return bits << n
}

// forget keeps the high-water mark, and the last forgottenWindow
// sequences, of an instance whose state is dropped.
func (d *dedup) forget(sender string, in *instanceIDs) {
	k := forgottenKey(sender, in.instance)
	if d.forgotten == nil {
		d.forgotten = map[uint64]forgottenIDs{}
	}
	f := forgottenIDs{high: in.high, bits: in.win[0]}
	if old, ok := d.forgotten[k]; ok {
		d.forgotten[k] = old.merge(f)
		return
	}
	if len(d.forgotten) >= dedupForgotten {
		d.forgetOldestMark(sender)
	}
	of := d.fof[sender]
	if of == nil {
		if d.fof == nil {
			d.fof, d.fby = map[string]*forgottenOf{}, map[int]map[string]bool{}
		}
		of = &forgottenOf{}
		d.fof[sender] = of
	}
	of.keys = append(of.keys, k)
	d.fcounted(sender, of.len()-1, of.len())
	d.forgotten[k] = f
}

// forgetOldestMark drops the oldest mark of the sender holding the most
// (sender itself when it holds as many): the marks are kept for
// dedupForgotten instances in all, and one sender naming new instances
// without end forgets its own, not every other sender's
// (TestForgottenMarksNotEvictedByAnotherSender).
func (d *dedup) forgetOldestMark(sender string) {
	victim := sender
	if of := d.fof[sender]; of == nil || of.len() < d.fmax {
		for s := range d.fby[d.fmax] {
			victim = s
			break
		}
	}
	of := d.fof[victim]
	delete(d.forgotten, of.pop())
	d.fcounted(victim, of.len()+1, of.len())
	if of.len() == 0 {
		delete(d.fof, victim)
	}
}

// fcounted moves sender in fby from holding from keys to holding to, one
// more or one fewer.
func (d *dedup) fcounted(sender string, from, to int) {
	if from > 0 {
		delete(d.fby[from], sender)
		if len(d.fby[from]) == 0 {
			delete(d.fby, from)
			if from == d.fmax && to < from {
				d.fmax = to
			}
		}
	}
	if to > 0 {
		if d.fby[to] == nil {
			d.fby[to] = map[string]bool{}
		}
		d.fby[to][sender] = true
	}
	d.fmax = max(d.fmax, to)
}

// sweep forgets the certificate senders idle since before now-idle, at
// most once per idle/16; not one whose second sums a record received now
// could still be charged against (secondSums.heldAt): forgotten, its
// sums went with it, and coming back it had a second believed up to the
// sender ceiling again (TestForgottenCertSenderSumsKept).
func (d *dedup) sweep(now time.Time) {
	if d.idle <= 0 || now.Sub(d.swept) < d.idle/16 {
		return
	}
	d.swept = now
	for name, s := range d.senders {
		if isCert(name) && now.Sub(s.last) >= d.idle && !s.sums.heldAt(now) {
			d.drop(name, s)
		}
	}
}

// drop forgets sender s, keeping its instances' high-water marks.
func (d *dedup) drop(name string, s *senderIDs) {
	for el := s.lru.Front(); el != nil; el = el.Next() {
		d.forget(name, el.Value.(*instanceIDs))
	}
	delete(d.senders, name)
	d.certs--
}

// admits reports whether a batch of sender may be stored at now: a
// certificate sender without state is admitted only while fewer than
// maxCert are live (idle ones forgotten first).
func (d *dedup) admits(sender string, now time.Time) error {
	if d.maxCert <= 0 || !isCert(sender) || d.senders[sender] != nil {
		return nil
	}
	d.sweep(now)
	if d.certs < d.maxCert {
		return nil
	}
	return fmt.Errorf("%w: %d certificate senders sent within the last %s, the most the collector holds state for; sender %s is new", ErrTooManySenders, d.certs, d.idle, sender)
}

// senderIDs are the ids of one sender.
type senderIDs struct {
	instances map[string]*list.Element // of *instanceIDs
	lru       list.List                // most recently used at the front
	others    map[string]struct{}
	ring      []string // others in the order stored, oldest at next once full
	next      int
	last      time.Time   // when a batch of the sender was last stored
	sums      *secondSums // its believed counts by second (ceiling.go); nil before it sent one
}

// instanceIDs are the sequence numbers of one sender's instance stored:
// high is the newest; bit i of win is high-i. recent are the records
// counts of its last dedupCounts batches stored, for a duplicate's answer.
type instanceIDs struct {
	instance string
	high     uint64
	win      [dedupWindow / 64]uint64
	recent   [dedupCounts]seqCount
	next     int        // the slot of recent written next
	replays  *replayIDs // which were stored by a replay; nil while none was
	// unknownThrough is the newest sequence stored by a collector that
	// did not record which request stored a batch (no "replay" field):
	// storedBy does not say for it or any older (0: none).
	unknownThrough uint64
}

// replayIDs are which of an instance's batches in its window were stored
// by a replay (a request carrying audit.HeaderReplay; the others by the
// sidecar's first post of them), for storedBy: bit i of win is high-i, as
// instanceIDs.win, and tokens are the tokens of its last dedupReplays
// replays stored. Made at an instance's first replay stored, so an
// instance that never replays costs nothing more: 648 bytes one that
// does.
type replayIDs struct {
	win    [dedupWindow / 64]uint64
	tokens [dedupReplays]seqToken
	next   int // the slot of tokens written next
}

// seqToken is a batch's sequence and the replay token that stored it.
type seqToken struct{ seq, token uint64 }

// seqCount is a stored batch's sequence and number of records.
type seqCount struct {
	seq     uint64
	records int32
}

// SplitBatchID splits a sidecar's batch id into its instance and its
// sequence, which grows by one a batch the sidecar makes (a batch it
// drops too takes one); ok is false for an id of another form (an OTLP
// client's body digest).
func SplitBatchID(id string) (instance string, seq uint64, ok bool) { return splitBatchID(id) }

// splitBatchID splits a sidecar's batch id into instance and sequence.
func splitBatchID(id string) (string, uint64, bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 || i == len(id)-1 {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil || seq == 0 || id[i+1] == '0' {
		return "", 0, false // one spelling a sequence: "x-01" is not "x-1"
	}
	return id[:i], seq, true
}

// check says whether id of sender is stored (dup), or lies below the
// window (ErrBatchOutsideWindow); it changes nothing.
func (d *dedup) check(sender, id string) (dup bool, err error) {
	inst, seq, ok := splitBatchID(id)
	if ok {
		if f, gone := d.forgotten[forgottenKey(sender, inst)]; gone && seq <= f.high {
			if back := f.high - seq; back < forgottenWindow {
				return f.bits&(1<<back) != 0, nil
			}
			return false, fmt.Errorf("%w: batch %q from %q is more than %d below %d, the newest stored of its instance when the collector forgot it (idle or past the instances it holds)", ErrBatchOutsideWindow, id, sender, forgottenWindow, f.high)
		}
	}
	s := d.senders[sender]
	if s == nil {
		return false, nil
	}
	if !ok {
		_, dup := s.others[id]
		return dup, nil
	}
	el := s.instances[inst]
	if el == nil {
		return false, nil
	}
	in := el.Value.(*instanceIDs)
	switch {
	case seq > in.high:
		return false, nil
	case in.high-seq >= dedupWindow:
		return false, fmt.Errorf("%w: batch %q from %q is %d batches before the newest stored of its instance (%d); the store remembers %d", ErrBatchOutsideWindow, id, sender, in.high-seq, in.high, dedupWindow)
	}
	return in.has(in.high - seq), nil
}

// records is the number of records stored under id of sender, which
// check found stored; ok is false when that is no longer known (not one
// of its instance's last dedupCounts batches stored, its instance
// forgotten, or an id without a sequence). Recovery rebuilds the counts
// from the trail (recordCount).
func (d *dedup) records(sender, id string) (n int, ok bool) {
	inst, seq, isSeq := splitBatchID(id)
	s := d.senders[sender]
	if !isSeq || s == nil || s.instances[inst] == nil {
		return 0, false
	}
	for _, r := range s.instances[inst].Value.(*instanceIDs).recent {
		if r.seq == seq && r.records >= 0 {
			return int(r.records), true
		}
	}
	return 0, false
}

// StoredBy values (audit.HeaderStoredBy): which request stored a batch
// answered a duplicate to a sidecar's replay of it.
const (
	storedByThis   = "this"   // an earlier sending of the same replay (its answer lost)
	storedByLive   = "live"   // a request with no replay token: the sidecar's first post of it
	storedByBefore = "before" // another replay, or a request before this replay's first sending
)

// storedBy says which request stored id of sender, answered a duplicate
// to a replay whose token (audit.HeaderReplay) is by (0: no token, and
// the answer says nothing): a request without a token (live), else this
// replay's earlier sending when the token that stored it is by, else
// another replay (before: one whose token is no longer remembered, past
// the instance's last dedupReplays replays, is one the sidecar moved on
// from). "" when not known: the instance forgotten (idle, or past
// dedupInstances), or the batch past its window. The trail keeps each
// replay's token (Store.batchRecordsAtLocked), so a restart rebuilds it.
func (d *dedup) storedBy(sender, id string, by uint64) string {
	inst, seq, ok := splitBatchID(id)
	s := d.senders[sender]
	if by == 0 || !ok || s == nil || s.instances[inst] == nil {
		return ""
	}
	in := s.instances[inst].Value.(*instanceIDs)
	if seq > in.high || in.high-seq >= dedupWindow || !in.has(in.high-seq) {
		return ""
	}
	if in.replays == nil || !bitOf(&in.replays.win, in.high-seq) {
		if seq <= in.unknownThrough {
			return "" // an older collector stored it, from either request
		}
		return storedByLive
	}
	for _, r := range in.replays.tokens {
		if r.seq == seq && r.token == by {
			return storedByThis
		}
	}
	return storedByBefore
}

// addBy is add for a batch stored by the request whose audit.HeaderReplay
// token is by (0: none, the sidecar's first post of it).
func (d *dedup) addBy(sender, id string, records int, by uint64, now time.Time) {
	in, seq := d.addSeq(sender, id, records, now)
	if in != nil && by != 0 {
		in.storedByReplay(seq, by)
	}
}

// addUnknown is add for a batch an older collector stored, whose entry
// does not say which request stored it (no "replay" field): storedBy
// says nothing of it, where it said "live", the sidecar counting the
// batch on that word (TestStoredByOfOlderCollectorNotKnown). A
// sequence at or below the newest such one is not known either: a live
// post of an instance comes after its older ones, and only a replay,
// which says so, stores an older sequence later.
func (d *dedup) addUnknown(sender, id string, records int, now time.Time) {
	in, seq := d.addSeq(sender, id, records, now)
	if in != nil && seq > in.unknownThrough {
		in.unknownThrough = seq
	}
}

// add remembers id of sender as stored at now, with records records (-1:
// not known).
func (d *dedup) add(sender, id string, records int, now time.Time) {
	d.addSeq(sender, id, records, now)
}

// addSeq is add, returning the ids of the batch's instance and its
// sequence (nil: it keeps none).
func (d *dedup) addSeq(sender, id string, records int, now time.Time) (*instanceIDs, uint64) {
	if d.senders == nil {
		d.senders = map[string]*senderIDs{}
	}
	d.sweep(now)
	s := d.senders[sender]
	if s == nil {
		s = &senderIDs{instances: map[string]*list.Element{}, others: map[string]struct{}{}}
		d.senders[sender] = s
		if isCert(sender) {
			d.certs++
		}
	}
	if now.After(s.last) {
		s.last = now
	}
	inst, seq, ok := splitBatchID(id)
	if !ok {
		s.addOther(id)
		return nil, 0
	}
	if d.addForgotten(sender, inst, seq) {
		return nil, 0
	}
	in := s.instance(inst, func(in *instanceIDs) { d.forget(sender, in) })
	in.add(seq)
	if records >= 0 {
		in.recent[in.next] = seqCount{seq: seq, records: int32(min(records, 1<<30))}
		in.next = (in.next + 1) % dedupCounts
	}
	return in, seq
}

// storedByReplay notes seq, just stored (add), as stored by the replay
// whose token is by.
func (in *instanceIDs) storedByReplay(seq, by uint64) {
	back := in.high - seq
	if back >= dedupWindow {
		return
	}
	r := in.replays
	if r == nil {
		r = new(replayIDs)
		in.replays = r
	}
	r.win[back/64] |= 1 << (back % 64)
	r.tokens[r.next] = seqToken{seq, by}
	r.next = (r.next + 1) % dedupReplays
}

// addForgotten marks seq of a forgotten instance stored, and reports
// whether it did: a sequence at or below the instance's mark is judged by
// what is kept of it (check), so it is noted there.
func (d *dedup) addForgotten(sender, inst string, seq uint64) bool {
	k := forgottenKey(sender, inst)
	f, gone := d.forgotten[k]
	if !gone || seq > f.high {
		return false
	}
	d.forgotten[k] = f.merge(forgottenIDs{high: seq, bits: 1})
	return true
}

// instance returns the ids of inst, made (forgetting the least recently
// used instance when full, handed to forget) if there are none, and marks
// it used.
func (s *senderIDs) instance(inst string, forget func(*instanceIDs)) *instanceIDs {
	if el := s.instances[inst]; el != nil {
		s.lru.MoveToFront(el)
		return el.Value.(*instanceIDs)
	}
	if s.lru.Len() >= dedupInstances {
		old := s.lru.Back()
		forget(old.Value.(*instanceIDs))
		delete(s.instances, old.Value.(*instanceIDs).instance)
		s.lru.Remove(old)
	}
	in := &instanceIDs{instance: inst}
	s.instances[inst] = s.lru.PushFront(in)
	return in
}

// addOther remembers an id without a sequence, forgetting the oldest
// when full.
func (s *senderIDs) addOther(id string) {
	if _, ok := s.others[id]; ok {
		return
	}
	if len(s.ring) < dedupOthers {
		s.ring = append(s.ring, id)
	} else {
		delete(s.others, s.ring[s.next])
		s.ring[s.next] = id
		s.next = (s.next + 1) % dedupOthers
	}
	s.others[id] = struct{}{}
}

// has reports whether the sequence back below high is stored.
func (in *instanceIDs) has(back uint64) bool { return bitOf(&in.win, back) }

// bitOf reports whether bit back of window w is set.
func bitOf(w *[dedupWindow / 64]uint64, back uint64) bool {
	return w[back/64]&(1<<(back%64)) != 0
}

// add marks seq stored, moving the window up when seq is the newest.
func (in *instanceIDs) add(seq uint64) {
	if seq > in.high {
		in.shift(seq - in.high)
		in.high = seq
	}
	if back := in.high - seq; back < dedupWindow {
		in.win[back/64] |= 1 << (back % 64)
	}
}

// shift moves the window n sequence numbers up: bit i becomes bit i+n.
func (in *instanceIDs) shift(n uint64) {
	shiftWindow(&in.win, n)
	if in.replays != nil {
		shiftWindow(&in.replays.win, n)
	}
}

// shiftWindow moves window w n sequence numbers up: bit i becomes bit i+n.
func shiftWindow(w *[dedupWindow / 64]uint64, n uint64) {
	if n >= dedupWindow {
		*w = [dedupWindow / 64]uint64{}
		return
	}
	words, bits := int(n/64), n%64
	for i := len(w) - 1; i >= 0; i-- {
		var v uint64
		if j := i - words; j >= 0 {
			v = w[j] << bits
			if bits > 0 && j > 0 {
				v |= w[j-1] >> (64 - bits)
			}
		}
		w[i] = v
	}
}

// sumsOf returns sender's believed counts by second, nil if it has none.
func (d *dedup) sumsOf(sender string) *secondSums {
	if s := d.senders[sender]; s != nil {
		return s.sums
	}
	return nil
}

// keepSums makes a copy of work sender's sums, when add made it known
// (were it gone, nothing is kept).
func (d *dedup) keepSums(sender string, work *secondSums) {
	s := d.senders[sender]
	if s == nil {
		return
	}
	if s.sums == nil {
		s.sums = new(secondSums)
	}
	s.sums.keep(work)
}
