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
// After a timeout the collector may have stored the whole batch and only
// its answer been late: its first half is then a duplicate the collector
// acknowledges, its second half's records are stored a second time. A
// record stored twice is better than a spool that never drains.

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
// and halves the cap again; the wait before the next probe then doubles,
// up to batchCapProbeMax, so a link that stays narrow pays a timeout
// rarely; a probe the link carries (or a larger batch) brings the wait
// back to BatchCapProbe. A collector that stalled (every batch timed out, the cap fell
// to one record) and came back gets full batches again within a few
// probes (TestEmitterBatchCapComesOff); the cap raised by a quarter a
// minute took 27 minutes from one record, each shipping a batch of its
// own into the spool meanwhile (read95).

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
		if e.probing {
			// The last raise was more than the link carries: wait longer
			// before the next.
			e.probing, e.capWait = false, min(2*e.capWait, batchCapProbeMax)
		}
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
		e.probing = true
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

// splitBatch cuts batch, one OTLP ExportLogsServiceRequest as
// batchEncoder makes it, into two: first holds the first half of its
// records and keeps its batch id, second the rest under id2; n1 and n2
// are their numbers of records.
func splitBatch(batch []byte, id2 string) (first, second []byte, n1, n2 int, err error) {
	rl, ok := onlyField(batch, fReqResourceLogs)
	if !ok {
		return nil, nil, 0, 0, fmt.Errorf("%w: no single resource", errNotSplit)
	}
	var res, scope []byte
	var recs [][]byte
	for f := range fields(rl, &ok) {
		switch f.num {
		case fRLResource:
			res = f.val
		case fRLScopeLogs:
			if scope != nil {
				return nil, nil, 0, 0, fmt.Errorf("%w: two scopes", errNotSplit)
			}
			scope = f.val
		}
	}
	var scopeHead []byte // the scope's fields other than its records, whole
	for f := range fields(scope, &ok) {
		if f.num == fSLLogRecords && f.typ == wireBytes {
			recs = append(recs, f.whole)
		} else {
			scopeHead = append(scopeHead, f.whole...)
		}
	}
	if !ok || res == nil || len(recs) < 2 {
		return nil, nil, 0, 0, fmt.Errorf("%w: %d records", errNotSplit, len(recs))
	}
	var attrs []byte // the resource's fields but its batch id
	for f := range fields(res, &ok) {
		if f.num == fResAttributes && kvKey(f.val) == AttrBatchID {
			continue
		}
		attrs = append(attrs, f.whole...)
	}
	if !ok {
		return nil, nil, 0, 0, fmt.Errorf("%w: bad resource", errNotSplit)
	}
	n1 = len(recs) / 2
	id1, _ := onlyAttr(res, AttrBatchID)
	first = joinBatch(attrs, id1, scopeHead, recs[:n1])
	second = joinBatch(attrs, id2, scopeHead, recs[n1:])
	return first, second, n1, len(recs) - n1, nil
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

// splitSpooled cuts spooled batch f (its bytes data) in two spooled
// batches (splitBatch) and removes it. It reports whether it did; when it
// did not, f stays as it was.
//
// A batch an earlier run spooled has its second half named by this run's
// prefix and next sequence, its records keeping their resource (pod,
// instance id) as they were. That is deliberate: the evidence pack counts
// the sequences missing between an instance's batches, and a second half
// under the earlier run's prefix with one of this run's sequences would
// read as every batch between them lost; under this run's it fills this
// run's next sequence, and the first half keeps the earlier run's.
func (e *Emitter) splitSpooled(f spoolFile, data []byte) bool {
	seq2 := e.seq.Add(1) - 1
	first, second, n1, n2, err := splitBatch(data, e.idPrefix+"-"+strconv.FormatUint(seq2, 10))
	if err != nil {
		return false
	}
	ws := []spoolWrite{
		{f: spoolFile{name: spoolName(f.seq, n1), seq: f.seq, records: n1, size: int64(len(first)), ours: true}, data: first},
		{f: spoolFile{name: spoolName(seq2, n2), seq: seq2, records: n2, size: int64(len(second)), ours: true}, data: second},
	}
	// Over the limit if need be: f's room comes back at once, and the
	// halves take only one envelope more than it.
	e.sp.reserveOver(len(first) + len(second))
	e.sp.write(ws)
	if ws[0].err != nil || ws[1].err != nil {
		for _, w := range ws {
			if w.err != nil {
				e.sp.unreserve(len(w.data))
			} else {
				e.removeSpooled(w.f)
			}
		}
		e.alarm.failed(FailSpool, "cannot split a batch too slow for the link to the collector: "+errors.Join(ws[0].err, ws[1].err).Error())
		return false
	}
	e.removeSpooled(f)
	e.splits.Add(1)
	return true
}

// splitHeld cuts held batch ob (in memory, Strict mode, the spool full)
// in two, ob keeping the first half. It returns the second, nil when ob
// cannot be cut.
func (e *Emitter) splitHeld(ob *outBatch) *outBatch {
	seq2 := e.seq.Add(1) - 1
	first, second, n1, n2, err := splitBatch(ob.data, e.idPrefix+"-"+strconv.FormatUint(seq2, 10))
	if err != nil {
		return nil
	}
	e.splits.Add(1)
	rest := &outBatch{seq: seq2, n: n2, data: second}
	ob.n, ob.data = n1, first
	return rest
}
