package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// A batch the link to the collector cannot carry within the collector's
// read timeout (one minute) or the emitter's own (postTimeout) is answered
// 408 incomplete, or not at all: sent again whole, it fails again, at the
// head of the spool for ever with every later batch behind it. Such a
// batch (sendSlow) is cut in two instead, again and again down to one
// record a batch (TestEmitterSplitsABatchTooSlowForTheLink). The first
// half keeps the batch's id and sequence, so that the collector stores the
// records it may already hold once and the sequence the evidence pack
// follows has no gap; the second takes the next sequence of this run.
//
// After the emitter's own timeout the collector may have stored the whole
// batch and only its answer been late. Cut as after a 408, its first half
// was then a duplicate the collector acknowledged, its second half's
// records were stored a second time (review98). So such a batch is first
// settled (settleLate): its twin, the same id and its first record only,
// tells whether the collector holds it (a duplicate of as many records:
// the batch is delivered, nothing is cut) or takes the id with that one
// record (the batch was not stored, nor can it be later: the other
// records go under new ids, cut in two)
// (TestEmitterTimedOutBatchStoredLateNotStoredTwice,
// TestEmitterTimedOutBatchNotStoredGoesUnderNewIDs).

// Splitting alone is reactive: every new full batch on that link would
// cost a timeout first (a minute of the collector's) before being cut. So
// the emitter remembers: a batch of n records too slow for the link caps
// new batches at n/2 records (batchCap, at least one; Stats.BatchCap,
// portcullis_audit_batch_cap_records), lower again while halves are still
// too slow, so the cap settles on a size that gets through
// (TestEmitterCapsBatchesAfterASplit).
//
// The cap comes off as fast as the link shows it can: a batch larger than
// the cap delivered in time (a spooled batch replayed whole) lifts it to
// that size at once, and a batch of the cap's size delivered at least
// BatchCapProbe (10 s) after the cap last changed doubles it, back to
// BatchSize (no cap). A probe the link does not carry costs one timeout
// and halves the cap again; the wait before the next probe then doubles
// (not for a batch too slow no larger than the cap before the raise: it
// did not try the raise),
// up to batchCapProbeMax, so a link that stays narrow pays a timeout
// rarely; a probe the link carries (or a larger batch) brings the wait
// back to BatchCapProbe. A collector that stalled (every batch timed out, the cap fell
// to one record) and came back gets full batches again within a few
// probes (TestEmitterBatchCapComesOff); the cap raised by a quarter a
// minute took 27 minutes from one record, each shipping a batch of its
// own into the spool meanwhile (read95).

// HeaderDuplicate is the header of the collector's answer to a batch
// whose id it already holds: the number of records it holds under that
// id, or "unknown" (settleLate).
const HeaderDuplicate = "Portcullis-Duplicate-Records"

// HeaderReplay is the header of a sidecar's replay of a spooled batch: a
// token of 16 hex digits, the spooled file's own (fileToken: the same at
// every replay of that file, by any run, and for fasthttp's second
// sending, poster.retryOnce; another for a copy of it put back). A
// collector answering the batch a duplicate says which request stored it
// (HeaderStoredBy).
const HeaderReplay = "Portcullis-Replay"

// HeaderStoredBy is the header of the collector's duplicate answer to a
// post carrying HeaderReplay: "this" (an earlier post carrying the same
// token, a replay of the same file, stored the batch, its answer lost), "live" (a post carrying no
// HeaderReplay: the sidecar's first post of it), "before" (another
// replay, or a request before this post's first sending), or absent when
// the collector does not know (it forgot the instance, the batch lies
// below the instance's window, or the collector is older than the
// header). The collector keeps the token with the batch, so its answer
// is the same after it restarts.
const HeaderStoredBy = "Portcullis-Duplicate-Stored-By"

// dupRecords values but a number of records.
const (
	notDup     = -2 // not answered a duplicate
	dupUnknown = -1 // a duplicate, its records not known
)

// batchCapProbeMax bounds the wait between two probes above the cap.
const batchCapProbeMax = 10 * time.Minute

// postN is post of batch data of n records; it keeps the batch cap.
// Sender goroutine only.
func (e *Emitter) postN(data []byte, n int) sendResult {
	res := e.post(data)
	now := time.Now()
	c := int(e.batchCap.Load())
	if e.capWait == 0 {
		e.capWait = e.cfg.BatchCapProbe
	}
	setCap := func(c int) {
		if c >= e.cfg.BatchSize {
			c, e.capWait = 0, e.cfg.BatchCapProbe
		}
		e.batchCap.Store(int64(c))
		e.capSet = now
	}
	switch {
	case res == sendSlow:
		if e.probing && n > e.probeFrom {
			// The last raise was more than the link carries: wait longer
			// before the next.
			e.capWait = min(2*e.capWait, batchCapProbeMax)
		}
		// A batch no larger than the cap before the raise did not try it:
		// the link narrowed, and the cap falls below, the wait as it was
		// (review98, TestEmitterBatchCapSmallBatchSlowWhileProbingKeepsTheWait).
		e.probing = false
		limit := e.cfg.BatchSize
		if c > 0 {
			limit = c
		}
		if next := max(n/2, 1); next < limit {
			setCap(next)
		}
	case res != sendOK || c == 0:
	case n > c:
		// The link carried n records in time: it widened, and the wait
		// a narrow link doubled is over.
		e.probing, e.capWait = false, e.cfg.BatchCapProbe
		setCap(n)
	case n == c && e.probing:
		// The link carried the last raise: the next comes BatchCapProbe
		// after it, not after the wait failed probes doubled, which
		// otherwise stayed at up to 10 minutes a doubling once a narrow
		// link widened (read96, TestEmitterBatchCapProbeCarriedResetsTheWait).
		e.probing, e.capWait = false, e.cfg.BatchCapProbe
	case n == c && now.Sub(e.capSet) >= e.capWait:
		e.probing, e.probeFrom = true, c
		setCap(2 * c)
	}
	return res
}

// batchLimit is the records a new batch holds at most: BatchSize, or
// the cap a batch too slow for the link set. Batcher goroutine.
func (e *Emitter) batchLimit() int {
	if c := int(e.batchCap.Load()); c > 0 {
		return c
	}
	return e.cfg.BatchSize
}

// errNotSplit is the error of a batch that cannot be cut: one record, or
// not a batch as batchEncoder makes it.
var errNotSplit = errors.New("audit: batch cannot be split")

// batchParts are the parts of a batch as batchEncoder makes it (one
// OTLP ExportLogsServiceRequest): its resource's fields but its batch id
// (attrs), its batch id, its scope's fields other than its records
// (scopeHead) and its records, each a field whole.
type batchParts struct {
	attrs, scopeHead []byte
	id               string
	recs             [][]byte
}

// parseBatch cuts batch into its parts.
func parseBatch(batch []byte) (p batchParts, err error) {
	rl, ok := onlyField(batch, fReqResourceLogs)
	if !ok {
		return p, fmt.Errorf("%w: no single resource", errNotSplit)
	}
	var res, scope []byte
	for f := range fields(rl, &ok) {
		switch f.num {
		case fRLResource:
			res = f.val
		case fRLScopeLogs:
			if scope != nil {
				return p, fmt.Errorf("%w: two scopes", errNotSplit)
			}
			scope = f.val
		}
	}
	for f := range fields(scope, &ok) {
		if f.num == fSLLogRecords && f.typ == wireBytes {
			p.recs = append(p.recs, f.whole)
		} else {
			p.scopeHead = append(p.scopeHead, f.whole...)
		}
	}
	if !ok || res == nil {
		return p, fmt.Errorf("%w: bad batch", errNotSplit)
	}
	for f := range fields(res, &ok) {
		if f.num == fResAttributes && kvKey(f.val) == AttrBatchID {
			continue
		}
		p.attrs = append(p.attrs, f.whole...)
	}
	if !ok {
		return p, fmt.Errorf("%w: bad resource", errNotSplit)
	}
	p.id, _ = onlyAttr(res, AttrBatchID)
	return p, nil
}

// joinBatch encodes a batch of the resource fields attrs with batch id
// id, the scope fields scopeHead and the records recs (fields, whole).
func joinBatch(attrs []byte, id string, scopeHead []byte, recs [][]byte) []byte {
	var b []byte
	b, rl := beginMsg(b, fReqResourceLogs, lenReserveEnvelope)
	b, m := beginMsg(b, fRLResource, lenReserveEnvelope)
	b = append(b, attrs...)
	b = appendKVString(b, fResAttributes, AttrBatchID, id)
	b = endMsg(b, m, lenReserveEnvelope)
	b, m = beginMsg(b, fRLScopeLogs, lenReserveEnvelope)
	b = append(b, scopeHead...)
	for _, r := range recs {
		b = append(b, r...)
	}
	b = endMsg(b, m, lenReserveEnvelope)
	return endMsg(b, rl, lenReserveEnvelope)
}

// field is one protobuf field read by fields: val is a length-delimited
// field's content, whole the field with its key.
type field struct {
	num        fieldNum
	typ        byte
	val, whole []byte
}

// fields yields the fields of message b; *ok is set false on bad wire
// data (the walk then stops).
func fields(b []byte, ok *bool) func(func(field) bool) {
	return func(yield func(field) bool) {
		for len(b) > 0 {
			f, rest, good := readField(b)
			if !good {
				*ok = false
				return
			}
			b = rest
			if !yield(f) {
				return
			}
		}
	}
}

// readField reads the field at the start of b.
func readField(b []byte) (f field, rest []byte, ok bool) {
	key, n := binary.Uvarint(b)
	if n <= 0 {
		return f, nil, false
	}
	f.num, f.typ = fieldNum(key>>3), byte(key&7)
	p := n
	switch f.typ {
	case wireVarint:
		_, m := binary.Uvarint(b[p:])
		if m <= 0 {
			return f, nil, false
		}
		p += m
	case wireFixed64:
		p += 8
	case wireBytes:
		l, m := binary.Uvarint(b[p:])
		if m <= 0 || l > uint64(len(b)-p-m) {
			return f, nil, false
		}
		f.val = b[p+m : p+m+int(l)]
		p += m + int(l)
	case 5: // fixed32
		p += 4
	default:
		return f, nil, false
	}
	if p > len(b) {
		return f, nil, false
	}
	return field{f.num, f.typ, f.val, b[:p]}, b[p:], true
}

// onlyField returns the content of the one field num of message b.
func onlyField(b []byte, num fieldNum) ([]byte, bool) {
	ok := true
	var val []byte
	count := 0
	for f := range fields(b, &ok) {
		if f.num == num {
			val, count = f.val, count+1
		}
	}
	return val, ok && count == 1
}

// kvKey is the key of a KeyValue message.
func kvKey(kv []byte) string {
	k, _ := onlyField(kv, fKVKey)
	return string(k)
}

// onlyAttr returns the string value of the resource attribute key.
func onlyAttr(res []byte, key string) (string, bool) {
	ok := true
	for f := range fields(res, &ok) {
		if f.num != fResAttributes || kvKey(f.val) != key {
			continue
		}
		v, _ := onlyField(f.val, fKVValue)
		s, found := onlyField(v, fAnyString)
		return string(s), found
	}
	return "", false
}

// settleLate finds out, after an attempt at batch data (of n records, two
// or more) ran out of the emitter's own time, how many of its records the
// collector holds under its id: it sends the batch's twin, the same id
// with its first record only, small enough for the link. A collector that
// holds the id answers it a duplicate with the records it holds there
// (HeaderDuplicate): n, the batch was stored; 1, an earlier twin was. One
// that does not stores the twin, so the id is taken with the first record
// and a late arrival of the batch itself is a duplicate not stored. held
// is that prefix of the batch's records held; the rest go again under new
// ids. settled is false when the twin got no answer it could read (the
// batch is then sent again whole, the same question), res its outcome.
//
// The twin holds a record, not none: the evidence pack counts a batch by
// its records, and an empty one would read as a batch lost. A duplicate
// whose count the collector no longer knows (it forgot the instance, or
// stored 8 of its batches since; a restart keeps the counts, rebuilt from
// the trail) holds the first record either way: the rest may be stored
// twice, never lost.
func (e *Emitter) settleLate(data []byte, n int) (held int, settled bool, res sendResult) {
	p, err := parseBatch(data)
	if err != nil || len(p.recs) < 2 {
		return 0, false, sendRejected
	}
	res = e.post(joinBatch(p.attrs, p.id, p.scopeHead, p.recs[:1]))
	if res != sendOK {
		return 0, false, res
	}
	switch held = e.dupRecords; held {
	case notDup, dupUnknown:
		held = 1
	}
	return min(held, n), true, res
}

// afterSlow says what becomes of batch data of n records whose attempt
// came back sendSlow: held is the prefix of its records the collector
// holds under its id (settleLate), the rest to go under new ids, or -1
// when the batch is cut keeping its id; ok false when it is to be sent
// again whole first. Only an attempt that ran out of the emitter's own
// time is in doubt (a 408 says the body did not arrive), and only a batch
// that is cut: one record is sent again whole, under its id, which the
// collector stores once.
func (e *Emitter) afterSlow(data []byte, n int) (held int, ok bool) {
	if !e.lastLate || n < 2 {
		return -1, true
	}
	held, settled, res := e.settleLate(data, n)
	switch {
	case settled:
		return held, true
	case res == sendRejected:
		// A collector that refuses the twin: cut as before, the second
		// half stored twice if the batch was stored.
		return -1, true
	}
	return 0, false
}

// heldPrefix is, after an answer of sendOK to a batch of n records, how
// many of them the collector holds under its id: fewer than n when it
// answered a duplicate holding fewer (the twin of settleLate, sent before
// this run), n otherwise (more: a batch this one is the first half of,
// cut by a sidecar before settleLate, holds all of its records).
func (e *Emitter) heldPrefix(n int) int {
	if e.dupRecords >= 0 {
		return min(e.dupRecords, n)
	}
	return n
}

// splitSpooled cuts spooled batch f (its bytes data) in two spooled
// batches (halves, joinBatch) and removes it. It reports whether it did; when it
// did not, f stays as it was. held is -1 for a batch the collector does
// not hold (a 408): the first half keeps f's id and sequence. Otherwise
// the collector holds f's first held records under f's id (settleLate):
// they count replayed, and the rest is cut in two under new ids (written
// whole under one when it is one record).
//
// A batch an earlier run spooled has its second half named by this run's
// prefix and next sequence, its records keeping their resource (pod,
// instance id) as they were. That is deliberate: the evidence pack counts
// the sequences missing between an instance's batches, and a second half
// under the earlier run's prefix with one of this run's sequences would
// read as every batch between them lost; under this run's it fills this
// run's next sequence, and the first half keeps the earlier run's.
func (e *Emitter) splitSpooled(f spoolFile, data []byte, held int) bool {
	p, err := parseBatch(data)
	if err != nil || held < 0 && len(p.recs) < 2 || held >= len(p.recs) {
		return false
	}
	var ws []spoolWrite
	size := 0
	share := f.records - max(held, 0) // of a restored batch's lostRecords, for its halves
	for i, recs := range halves(p.recs[max(held, 0):]) {
		seq, id := f.seq, p.id
		if i > 0 || held >= 0 {
			seq = e.seq.Add(1) - 1
			id = e.idPrefix + "-" + strconv.FormatUint(seq, 10)
		}
		b := joinBatch(p.attrs, id, p.scopeHead, recs)
		size += len(b)
		half := spoolFile{name: spoolName(seq, len(recs)), seq: seq, records: len(recs), size: int64(len(b)), ours: true, restored: f.restored}
		if f.restored { // no more of them count Restored than f would
			half.lostRecords = min(len(recs), max(share, 0))
			share -= half.lostRecords
		}
		ws = append(ws, spoolWrite{f: half, data: b})
	}
	// Over the limit if need be: f's room comes back at once, and the
	// halves take only one envelope more than it.
	e.sp.reserveOver(size)
	e.sp.write(ws)
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.err)
	}
	if err := errors.Join(errs...); err != nil {
		for _, w := range ws {
			if w.err != nil {
				e.sp.unreserve(len(w.data))
			} else {
				e.removeSpooled(w.f)
			}
		}
		e.alarm.failed(FailSpool, "cannot split a batch too slow for the link to the collector: "+err.Error())
		return false
	}
	e.removeSpooled(f)
	e.countReplayed(f, max(held, 0))
	if f.restored { // its halves are, a run later too
		for _, w := range ws {
			e.sp.noteLost(w.f)
		}
	}
	if len(ws) > 1 {
		e.splits.Add(1)
	}
	return true
}

// halves is recs cut in two, or recs alone when it is one record.
func halves(recs [][]byte) [][][]byte {
	if len(recs) < 2 {
		return [][][]byte{recs}
	}
	return [][][]byte{recs[:len(recs)/2], recs[len(recs)/2:]}
}

// splitHeld cuts held batch ob (in memory, Strict mode, the spool full)
// in two, ob keeping the first half. It returns the second, nil when ob
// was not cut. held is as splitSpooled's: the first held records count
// delivered, the rest cut under new ids (ob only renamed when it is one
// record).
func (e *Emitter) splitHeld(ob *outBatch, held int) *outBatch {
	p, err := parseBatch(ob.data)
	if err != nil || held < 0 && len(p.recs) < 2 || held >= len(p.recs) {
		return nil
	}
	var out []*outBatch
	for i, recs := range halves(p.recs[max(held, 0):]) {
		seq, id := ob.seq, p.id
		if i > 0 || held >= 0 {
			seq = e.seq.Add(1) - 1
			id = e.idPrefix + "-" + strconv.FormatUint(seq, 10)
		}
		out = append(out, &outBatch{seq: seq, n: len(recs), data: joinBatch(p.attrs, id, p.scopeHead, recs)})
	}
	e.delivered.Add(uint64(max(held, 0)))
	ob.seq, ob.n, ob.data = out[0].seq, out[0].n, out[0].data
	if len(out) == 1 {
		return nil
	}
	e.splits.Add(1)
	return out[1]
}
