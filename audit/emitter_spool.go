package audit

import (
	"strconv"
	"time"
)

// runSpooler writes the batches the batcher spools (handoff), as many
// together as have queued since the last write (spool.write: one fsync of
// the directory a group, the files' fsyncs together). The batcher only
// queues them: when it wrote each batch itself, two fsyncs a batch, the
// slots filled during the writes and Emit refused records (issue 18; on a
// network disk 10-25% of them at 11k requests a second).
func (e *Emitter) runSpooler() {
	defer e.stopped.Done()
	group := make([]*outBatch, 0, sendQueue)
	for ob := range e.spoolQ {
		group = append(group[:0], ob)
	more:
		for len(group) < cap(group) {
			select {
			case ob, ok := <-e.spoolQ:
				if !ok {
					break more
				}
				group = append(group, ob)
			default:
				break more
			}
		}
		for held := e.writeSpool(group, false); len(held) > 0; held = e.spoolNow(held, e.closing()) {
			// Strict mode and the spool cannot write them (its directory
			// refused, the disk failing): keep them, so that the queue and
			// then the slots fill and the data plane answers 503, and try
			// again; at Close, once more, then they are dropped, counted.
			e.sleep(50 * time.Millisecond)
		}
		e.spoolPending.Add(-int64(len(group)))
	}
}

// spoolNow writes batches into the spool at once (the sender's, which the
// collector did not take), reserving their room first. It returns the
// batches Strict mode holds because they fit nowhere.
func (e *Emitter) spoolNow(group []*outBatch, mustFinish bool) (held []*outBatch) {
	ready := group[:0:0]
	for _, ob := range group {
		if err := e.sp.reserve(ob.seq, len(ob.data)); err != nil {
			if !e.notSpooled(ob, err, mustFinish) {
				held = append(held, ob)
			}
			continue
		}
		ready = append(ready, ob)
	}
	if len(ready) > 0 {
		held = append(held, e.writeSpool(ready, mustFinish)...)
	}
	e.updateSpoolOK()
	return held
}

// writeSpool writes group, whose room is reserved, into the spool. What it
// cannot write gives its room back and is dropped and counted, or, in
// Strict mode unless mustFinish, returned to be held.
func (e *Emitter) writeSpool(group []*outBatch, mustFinish bool) (held []*outBatch) {
	ws := make([]spoolWrite, len(group))
	for i, ob := range group {
		ws[i] = spoolWrite{f: spoolFile{name: spoolName(ob.seq, ob.n), seq: ob.seq, records: ob.n, size: int64(len(ob.data)), ours: true}, data: ob.data}
	}
	e.sp.write(ws)
	for i, ob := range group {
		if ws[i].err == nil {
			e.spooled.Add(uint64(ob.n))
			e.putBatch(ob)
			continue
		}
		e.sp.unreserve(len(ob.data))
		if e.strict() && !mustFinish {
			e.alarm.failed(FailSpool, "cannot write a batch to the spool, holding it (strict mode answers 503 until it is written): "+ws[i].err.Error())
			held = append(held, ob)
			continue
		}
		e.notSpooled(ob, ws[i].err, true)
	}
	e.updateSpoolOK()
	return held
}

// notSpooled settles a batch the spool could not take (err says why):
// BestEffort (or mustFinish: a closing Emitter has nowhere else to keep
// it) drops and counts it and returns true; Strict returns false, for the
// caller to hold it.
func (e *Emitter) notSpooled(ob *outBatch, err error, mustFinish bool) bool {
	if e.strict() && !mustFinish {
		e.alarm.failed(FailSpool, "spool full, holding the batch (strict mode answers 503 until it fits): "+err.Error())
		return false
	}
	e.alarm.failed(FailSpool, strconv.Itoa(ob.n)+" records dropped, the spool cannot take them: "+err.Error())
	e.droppedSpool.Add(uint64(ob.n))
	e.putBatch(ob)
	return true
}

// takeQueuedLocked takes the batches queued for the sender: in backlog
// they go to the spool, behind the one the sender holds. e.mu held.
func (e *Emitter) takeQueuedLocked(group []*outBatch) []*outBatch {
	for {
		select {
		case ob, ok := <-e.sendCh:
			if !ok {
				return group
			}
			e.unsent.Add(-int64(len(ob.data)))
			group = append(group, ob)
		default:
			return group
		}
	}
}

// spoolRemade counts and logs, once each time, the spool directory made
// again after it was deleted, and the records that went with it.
func (e *Emitter) spoolRemade(lost int) {
	e.droppedSpool.Add(uint64(lost))
	e.log.Warn().Str("spool", e.sp.dir).Int("records_lost", lost).
		Msg("audit spool directory was deleted: made it again (mode 0700); the batches spooled in it are lost, counted in portcullis_audit_records_total{outcome=\"dropped\"}")
}

// DefaultDropLogInterval is the least time between two log lines about
// dropped records.
const DefaultDropLogInterval = 10 * time.Second

// dropLog decides when to say in the log how many records were dropped
// (slots full, spool full or failing), so a loss is not only a counter: the
// first drop at once, then at most one line per interval with the count
// since the line before. Time is a parameter; batcher only (and Close).
type dropLog struct {
	every       time.Duration
	last        time.Time // the last line; zero: none yet
	full, spool uint64    // the totals it reported
}

// due returns the drops since the last line, when a line is due at now
// given the totals so far.
func (d *dropLog) due(now time.Time, full, spool uint64) (newFull, newSpool uint64, ok bool) {
	if full == d.full && spool == d.spool {
		return 0, 0, false
	}
	if !d.last.IsZero() && now.Sub(d.last) < d.every {
		return 0, 0, false
	}
	newFull, newSpool = full-d.full, spool-d.spool
	d.last, d.full, d.spool = now, full, spool
	return newFull, newSpool, true
}

// logDrops writes the drop line when one is due at now (any time when
// final: Close reports what the last interval left).
func (e *Emitter) logDrops(now time.Time, final bool) {
	if final {
		e.drops.last = time.Time{}
	}
	full, spool, ok := e.drops.due(now, e.droppedFull.Load(), e.droppedSpool.Load())
	if !ok {
		return
	}
	e.log.Warn().Uint64("dropped", full+spool).Uint64("slots_full", full).Uint64("spool", spool).
		Dur("interval", e.drops.every).
		Msg("audit records dropped since the last such line: requests were served without their records (slots full: the batcher fell behind; spool: full or not writable); counted in portcullis_audit_records_total{outcome=\"dropped\"} (slots full also in portcullis_audit_dropped_total; spool drops only in the first)")
}
