package audit

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// runBatcher drains the slots into batches and hands each to the sender, or
// to the spool while the spool holds older batches.
func (e *Emitter) runBatcher() {
	defer e.stopped.Done()
	defer close(e.sendCh)
	defer close(e.spoolQ)
	t := time.NewTicker(max(min(e.cfg.FlushInterval/4, 100*time.Millisecond), time.Millisecond))
	defer t.Stop()
	for {
		e.fill()
		if e.enc.n > 0 && time.Since(e.started) >= e.cfg.FlushInterval {
			e.ship()
		}
		now := time.Now()
		e.trimSpares(now)
		e.logDrops(now, false)
		select {
		case <-e.wake:
		case <-t.C:
		case <-e.done:
			for !e.q.seal() {
				e.fill()
			}
			e.fill()
			e.agg.flush(math.MaxInt64, e.addRecord)
			if e.enc.n > 0 {
				e.ship()
			}
			return
		}
	}
}

// fill moves every ready record into the current batch, shipping full
// ones. While the spool is above half full, denials without a verified
// credential are folded into one record per source, route, reason and
// second, and a verified client's limit refusals into one per client,
// key, route, reason, limit and second (emitter_aggregate.go); those of seconds that are over go into
// the batch.
func (e *Emitter) fill() {
	fold := e.aggregating()
	for r := e.q.peek(); r != nil; r = e.q.peek() {
		if e.enc.n == 0 {
			fold = e.aggregating() // a shipped batch may have been spooled
		}
		how := notFolded
		if fold {
			how = e.agg.add(r)
		}
		switch how {
		case notFolded:
			e.addRecord(r)
		case folded:
			e.aggregated.Add(1)
		}
		e.q.release()
	}
	e.agg.flush(time.Now().Unix()-aggGraceSeconds, e.addRecord)
}

// addRecord appends r to the current batch, shipping it when full.
func (e *Emitter) addRecord(r *Record) {
	if e.enc.n == 0 {
		e.batchSeq = e.seq.Add(1) - 1
		e.idBuf = appendBatchID(e.idBuf[:0], e.idPrefix, e.batchSeq)
		e.enc.begin(e.idBuf)
		e.started = time.Now()
	}
	e.enc.add(r)
	if e.enc.n >= e.batchLimit() {
		e.ship()
	}
}

// ship finishes the current batch and hands it on.
func (e *Emitter) ship() {
	// The encoder's buffer goes out as the batch and the spare's becomes
	// the encoder's: no copy, and no buffer of the encoder's own.
	// A new buffer is sized for the largest batch so far (short of what
	// putBatch keeps), not for this one, which may be a short batch the
	// flush interval shipped: the next full batch would grow it (garbage,
	// issue 18).
	ob := e.getBatch()
	batch := e.enc.finish()
	if int64(len(batch)) > e.maxBatch.Load() {
		e.maxBatch.Store(int64(len(batch)))
	}
	ob.data, e.enc.buf = batch, sizedFor(ob.data[:0], int(min(e.maxBatch.Load(), maxSpare*8/9)))
	ob.seq, ob.n = e.batchSeq, e.enc.n
	e.enc.n = 0
	e.batches.Add(1)
	for !e.handoff(ob) {
		// Strict mode with a full spool: hold the batch (the slots fill up
		// and Emit refuses, so the data plane answers 503) until it fits.
		timer := time.NewTimer(50 * time.Millisecond)
		select {
		case <-timer.C:
		case <-e.done:
			timer.Stop()
		}
	}
}

// handoff queues ob for the sender, or for the spooler when the spool
// already holds batches or the sender is behind. It returns false when ob
// must be held (Strict mode, spool full). When closing, the sender places
// every batch itself. The batcher never waits for the disk here, only,
// when the disk cannot keep up at all, for room in the spooler's queue.
func (e *Emitter) handoff(ob *outBatch) bool {
	n := int64(len(ob.data))
	if e.closing() {
		e.unsent.Add(n)
		e.sendCh <- ob
		return true
	}
	e.mu.Lock()
	if !e.backlog {
		e.unsent.Add(n)
		select {
		case e.sendCh <- ob:
			e.mu.Unlock()
			return true
		default:
			e.unsent.Add(-n)
			e.backlog = true
		}
	}
	// Counted pending under mu, so that the sender, which ends the
	// backlog under mu when the spool is empty, does not end it before
	// this batch is written.
	err := e.sp.reserve(ob.seq, len(ob.data))
	if err == nil {
		e.spoolPending.Add(1)
	}
	e.mu.Unlock()
	if err != nil {
		defer e.updateSpoolOK()
		return e.notSpooled(ob, err, false)
	}
	e.updateSpoolOK()
	e.spoolQ <- ob
	return true
}

// senderLapHook, when a test sets it, runs in the sender's lap between its
// closing check and its wait.
var senderLapHook func(*Emitter)

// runSender delivers batches from the batcher and replays the spool.
func (e *Emitter) runSender() {
	defer e.stopped.Done()
	for {
		if e.closing() {
			e.closeSender()
			e.poster.close()
			return
		}
		if len(e.held) > 0 {
			e.retryHeld()
			continue
		}
		if e.inBacklog() {
			e.replayOne()
			continue
		}
		if senderLapHook != nil {
			senderLapHook(e)
		}
		select {
		case ob, ok := <-e.sendCh:
			if !ok {
				// Close came after the check above and the batcher has
				// sealed and gone: a closed channel, not a batch.
				continue
			}
			n := int64(len(ob.data))
			e.deliverFresh(ob)
			e.unsent.Add(-n)
		case <-e.done:
		}
	}
}

// closeSender places every remaining batch: replaying the spool while the
// collector answers (up to CloseTimeout), delivering new batches directly
// when the spool is empty, spooling them otherwise, and dropping (counted)
// only what fits nowhere.
func (e *Emitter) closeSender() {
	deadline := time.Now().Add(e.cfg.CloseTimeout)
	up := true
	for {
		for up && time.Now().Before(deadline) {
			up = e.placeHeld(up)
			ok, empty := e.replayOnce()
			if empty {
				break
			}
			up = ok
		}
		up = e.placeHeld(up)
		ob, ok := <-e.sendCh
		if !ok {
			return
		}
		e.unsent.Add(-int64(len(ob.data)))
		up = e.placeOnClose(ob, up && time.Now().Before(deadline))
	}
}

// placeHeld places every held batch at Close (replayOnce may add some).
func (e *Emitter) placeHeld(up bool) bool {
	for _, ob := range e.held {
		up = e.placeOnClose(ob, up)
	}
	e.held = e.held[:0]
	return up
}

// placeOnClose delivers ob when the collector is up and nothing older waits
// in the spool, else spools it, else tries the collector anyway before
// dropping it (counted). It reports whether the collector still looks up.
func (e *Emitter) placeOnClose(ob *outBatch, up bool) bool {
	if _, pending := e.sp.oldest(); up && !pending && e.spoolPending.Load() == 0 {
		if up = e.postCounted(ob); up {
			return true
		}
	}
	if len(e.spoolNow([]*outBatch{ob}, false)) == 0 {
		return up
	}
	if up && e.postCounted(ob) {
		return true
	}
	e.spoolNow([]*outBatch{ob}, true)
	return false
}

// postCounted makes one attempt at ob and counts the outcome. It reports
// whether the batch is settled (delivered or rejected as invalid).
func (e *Emitter) postCounted(ob *outBatch) bool {
	switch e.postN(ob.data, ob.n) {
	case sendOK:
		e.delivered.Add(uint64(ob.n))
	case sendRejected:
		e.rejected.Add(uint64(ob.n))
	default:
		e.retries.Add(1)
		return false
	}
	e.putBatch(ob)
	return true
}

func (e *Emitter) inBacklog() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.backlog
}

// deliverFresh sends a new batch, retrying within the retry budget (once
// when closing), and spools it on failure, or holds it (Strict, spool full).
func (e *Emitter) deliverFresh(ob *outBatch) {
	deadline := time.Now().Add(e.cfg.RetryBudget)
	for attempt := 0; ; attempt++ {
		res := e.postN(ob.data, ob.n)
		switch res {
		case sendOK:
			e.delivered.Add(uint64(ob.n))
			e.putBatch(ob)
			return
		case sendRejected:
			e.rejected.Add(uint64(ob.n))
			e.putBatch(ob)
			return
		}
		e.retries.Add(1)
		d := e.backoff(attempt)
		if res == sendSlow || e.closing() || time.Now().Add(d).After(deadline) || !e.sleep(d) {
			// A batch too slow for the link fails again whole: the
			// replay splits it (emitter_split.go).
			break
		}
	}
	// The batches queued behind ob go to the spool with it, written
	// together and outside mu, which the batcher takes to hand over each
	// batch: written one by one under it, the batcher waited for 17
	// batches' fsyncs while the slots filled.
	e.mu.Lock()
	e.backlog = true
	group := e.takeQueuedLocked([]*outBatch{ob})
	e.mu.Unlock()
	e.held = append(e.held, e.spoolNow(group, false)...)
}

// retryHeld tries to place the oldest held batch: in the spool if it has
// room now, else directly.
func (e *Emitter) retryHeld() {
	ob := e.held[0]
	placed := len(e.spoolNow([]*outBatch{ob}, false)) == 0
	if !placed && !e.postCounted(ob) {
		if e.lastSlow {
			held, ok := e.afterSlow(ob.data, ob.n)
			if held >= ob.n {
				e.delivered.Add(uint64(ob.n))
				e.putBatch(ob)
				e.held = e.held[1:]
				return
			}
			if ok {
				if rest := e.splitHeld(ob, held); rest != nil {
					e.held = slices.Insert(e.held, 1, rest)
					return
				}
			}
		}
		e.sleep(e.backoff(3))
		return
	}
	e.held = e.held[1:]
}

// replayOne sends the oldest spooled batch, retrying with backoff until it
// is delivered or Close is called.
func (e *Emitter) replayOne() {
	for attempt := 0; ; attempt++ {
		ok, _ := e.replayOnce()
		if ok || !e.sleep(e.backoff(attempt)) {
			return
		}
	}
}

// replayOnce makes one attempt at the oldest spooled batch. It reports
// whether the attempt settled the batch and whether the spool was empty, in
// which case it leaves backlog mode.
func (e *Emitter) replayOnce() (ok, empty bool) {
	e.mu.Lock()
	queued := e.takeQueuedLocked(nil)
	e.mu.Unlock()
	if len(queued) > 0 {
		e.held = append(e.held, e.spoolNow(queued, false)...)
	}
	if _, found := e.sp.oldest(); !found && e.sp.dir != "" && e.spoolPending.Load() == 0 && len(e.sendCh) == 0 {
		// Batches restored into the directory after it was read; not
		// under e.mu, and not while the spooler still writes (the loop
		// below polls every 5 ms then, and the listing takes the
		// directory's lock from the writes).
		e.sp.adoptNew()
	}
	e.mu.Lock()
	f, found := e.sp.oldest()
	// Batches the spooler has not written yet are newer than every file
	// (the sender writes its own before it replays): the backlog ends only
	// once they are written and sent too.
	writing := !found && (e.spoolPending.Load() > 0 || len(e.sendCh) > 0)
	if !found && !writing {
		e.backlog = false
	}
	e.mu.Unlock()
	if writing {
		time.Sleep(5 * time.Millisecond) // also at Close, where e.sleep returns at once
		return true, false
	}
	if !found {
		return true, true
	}
	e.sp.hold(f)
	ok, settled := e.replayFile(f)
	e.replayUnsettled = ""
	if !settled {
		e.replayUnsettled = f.name
	}
	if e.sp.release() && !settled {
		e.lostWithDirectory(f)
	}
	return ok, false
}

// replayFile makes one attempt at spooled batch f (replayOnce). It
// reports whether the attempt went as far as it could (ok: no backoff),
// and whether it settled f: delivered, rejected, cut into new batches or
// dropped, counted, rather than kept for another try.
func (e *Emitter) replayFile(f spoolFile) (ok, settled bool) {
	data, token, gen, err := e.sp.read(f, e.replayBuf)
	e.replayBuf = data[:0]
	if cap(data) > 4<<20 {
		e.replayBuf = nil // do not pin an outsized buffer
	}
	if err != nil {
		if e.sp.deleted() {
			// The directory went with every batch in it: remake counts
			// them lost at once, rather than each as unreadable here.
			if rerr := e.sp.remake(); rerr != nil {
				e.alarm.failed(FailSpool, rerr.Error())
				return false, false
			}
			e.updateSpoolOK()
			return true, false
		}
		return true, e.dropUnreadable(f, gen, err)
	}
	if f.restored {
		f.records = restoredRecords(data, f.records, f.lostRecords)
	}
	e.poster.replay = token // the file's own (fileToken), at every replay of it
	res := e.postN(data, f.records)
	e.poster.replay = 0
	if e.heldBefore(f, res) {
		e.sp.forgetLost(f)
		e.removeSpooled(f)
		return true, true
	}
	if held := e.heldPrefix(f.records); res == sendOK && held < f.records {
		e.retries.Add(1)
		split := e.splitSpooled(f, data, held)
		return split, split
	}
	switch res {
	case sendOK:
		e.countReplayed(f, f.records)
	case sendRejected:
		if !f.restored { // else in DroppedSpool already
			e.rejected.Add(uint64(f.records))
		} else {
			e.sp.forgetLost(f)
		}
	case sendSlow:
		e.retries.Add(1)
		held, ok := e.afterSlow(data, f.records)
		if !ok {
			return false, false
		}
		if held < f.records {
			split := e.splitSpooled(f, data, held)
			return split, split
		}
		e.countReplayed(f, f.records)
	default:
		e.retries.Add(1)
		return false, false
	}
	e.removeSpooled(f)
	return true, true
}

// restoredRecords returns how many records restored batch data counts
// (Restored): the number its file name says, named, the records it holds,
// or lost, the records the batch counted lost under its sequence held
// (spoolFile.lostRecords), whichever is fewest. A batch put back under a lost
// sequence with a name saying more records than it holds counted the
// name's, and DroppedSpool - Restored, the records lost for good, hid
// other batches lost (TestSpoolRestoredBatchCountsItsRecordsNotItsName);
// one holding more than the lost batch did counted them all
// (TestSpoolRestoredBatchCountsAtMostTheLostOnes). A body that does not
// parse as one batch, which the emitter never writes, counts none.
func restoredRecords(data []byte, named, lost int) int {
	p, err := parseBatch(data)
	if err != nil {
		return 0
	}
	return min(named, len(p.recs), lost)
}

// countReplayed counts n records of spooled batch f delivered: Replayed,
// or Restored for a batch counted lost with a deleted spool directory and
// put back by hand (spoolFile.restored), whose records DroppedSpool holds
// already. Before, such a batch was counted dropped and replayed both
// (TestSpoolBatchLostThenRestoredCountedOnce).
func (e *Emitter) countReplayed(f spoolFile, n int) {
	if f.restored {
		e.restored.Add(uint64(n))
		e.sp.forgetLost(f)
		return
	}
	e.replayed.Add(uint64(n))
}

// heldBefore reports whether spooled batch f was answered (res) as a
// duplicate of a batch the collector held whole before this run's last
// attempt at f: it was counted restored or replayed already, by this run
// or one before, and counts neither again. A .lost put back from an
// older copy of the spool (before the batch was restored) marks it lost
// again, and a batch of it put back again was counted restored again,
// more than were dropped (TestSpoolBatchRestoredTwiceCountedOnce);
// nothing in the spool's directory can tell such a copy from the .lost it
// replaced, and a plain spooled batch put back after it was delivered
// counted replayed twice (TestSpoolBatchPutBackAfterReplayCountedOnce).
// The collector's memory of the batch ids it stored can: a replay
// carries a token (HeaderReplay), and the duplicate's answer says which
// request stored the batch (HeaderStoredBy). A duplicate of this run's
// last attempt at f, of a replay of the same file (its token: fileToken;
// by this run, fasthttp sending a batch again when its answer could not
// be read, or by a run stopped before it heard the answer,
// TestSpoolBatchAnswerLostThenRestartCountedReplayed), or of the
// sidecar's first post of it, not a replay, stored with its answer lost
// or late, counts (TestSpoolRestoredBatchAnswerLostCountedRestored).
//
// A collector that does not say (older, or that forgot the instance; a
// restarted one says, TestSpoolRestoredBatchAnswerLostThenCollectorRestartCountedRestored)
// leaves the rule of before: a restored batch was held before
// unless this post was sent twice (poster.resent), so one restored twice
// whose first duplicate answer was lost counted restored again
// (TestSpoolBatchRestoredTwiceAnswerLostCountedOnce passes with a
// collector that says); a plain batch counts replayed. Sender goroutine
// only.
func (e *Emitter) heldBefore(f spoolFile, res sendResult) bool {
	if res != sendOK || e.dupRecords == notDup || e.heldPrefix(f.records) != f.records || e.replayUnsettled == f.name {
		return false
	}
	switch e.dupStoredBy {
	case storedBefore:
		return true
	case storedThis, storedLive:
		return false
	}
	return f.restored && !e.poster.resent
}

// lostWithDirectory counts the records of spooled batch f lost: the
// replay held it, kept it for another try, and it went with the spool
// directory, deleted and made again meanwhile (remake left it to the
// replay: hold).
func (e *Emitter) lostWithDirectory(f spoolFile) {
	if f.restored {
		return // counted lost when it first went
	}
	e.alarm.failed(FailSpool, strconv.Itoa(f.records)+" records of a spooled batch went with the deleted spool directory, dropped")
	e.droppedSpool.Add(uint64(f.records))
	e.sp.noteLost(f)
}

// dropUnreadable removes a batch read failed to read (why) in the
// directory of generation gen, and counts its records dropped; not when
// the directory was made again after the read (removeUnreadable): the
// batch under its name there is read at its turn. It reports whether it
// dropped the batch.
func (e *Emitter) dropUnreadable(f spoolFile, gen uint64, why error) (dropped bool) {
	listed, err := e.sp.removeUnreadable(f, gen)
	if err != nil {
		e.alarm.failed(FailSpool, "cannot remove an unreadable batch: "+err.Error())
	}
	e.updateSpoolOK()
	if listed { // else counted lost with its directory, or read again
		e.alarm.failed(FailSpool, "spooled batch unreadable, dropped: "+why.Error())
		if !f.restored { // else in DroppedSpool already
			e.droppedSpool.Add(uint64(f.records))
		}
		if errors.Is(why, fs.ErrNotExist) {
			e.sp.noteLost(f) // gone, as with its directory: put back, it is restored
		}
	}
	return listed
}

// removeSpooled removes a replayed batch from the spool. It reports
// whether the spool still listed it (remove).
func (e *Emitter) removeSpooled(f spoolFile) bool {
	listed, err := e.sp.remove(f)
	if err != nil {
		e.alarm.failed(FailSpool, "cannot remove a replayed batch: "+err.Error())
	}
	e.updateSpoolOK()
	return listed
}

// backoff returns the delay before retry attempt+1: exponential from
// MinBackoff to MaxBackoff with equal jitter, so sidecars that lost the
// collector together do not return in lockstep.
func (e *Emitter) backoff(attempt int) time.Duration {
	d := e.cfg.MinBackoff << min(attempt, 20)
	if d <= 0 || d > e.cfg.MaxBackoff {
		d = e.cfg.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	// A collector's Retry-After (429 sender_quota, 503 collector_busy)
	// is a floor: retried sooner, the batch is refused again.
	return max(d, e.retryAfter)
}

// maxRetryAfter caps the wait a collector's Retry-After asks for.
const maxRetryAfter = 5 * time.Minute

// sleep waits d; it returns false early when Close is called.
func (e *Emitter) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.done:
		return false
	}
}

type sendResult uint8

const (
	sendOK       sendResult = iota
	sendRetry               // network error, 401/403, 408, 429, 5xx: try again later
	sendRejected            // 400, 413, 415, 422, and the refusals of refusedFor: dropped
	// sendSlow is a retry for a batch the link did not carry in time: a
	// 408 (the collector's read timeout passed mid-body) or the emitter's
	// own timeout. Sent whole again it fails again; it is split
	// (emitter_split.go).
	sendSlow
)

// refusedFor are the collector's refusals of one batch for good, by
// status and JSON error code: retried, the batch would stay at the head
// of the spool for ever and hold every later one behind it.
var refusedFor = [...]struct {
	code  int
	error string
}{
	{403, `"error":"tenant_not_bound"`},     // the token is bound to tenants a record is not of
	{409, `"error":"batch_outside_window"`}, // too far behind this instance's newest to tell from a stored one
}

// classifyStatus says what a collector's answer (status and body) means
// for the batch, and the failure class when it is not a success.
func classifyStatus(code int, body []byte) (sendResult, string) {
	for _, r := range refusedFor {
		if code == r.code && bytes.Contains(body, []byte(r.error)) {
			return sendRejected, FailRefused
		}
	}
	switch {
	case code >= 200 && code < 300:
		return sendOK, ""
	case code == 400 || code == 413 || code == 415 || code == 422:
		return sendRejected, FailRejected
	case code == 401 || code == 403:
		return sendRetry, FailUnauthenticated
	}
	return sendRetry, FailUnavailable
}
