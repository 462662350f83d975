package collector

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DefaultSenderQuota is Config.SenderQuota when 0: the batch bytes
// (decompressed) one sender may send a minute. It is well above what a
// busy sidecar sends (10,000 requests a second are about 3 MB), or one
// replaying a full spool (256 MiB) in a few minutes, and it bounds how
// fast a stolen token fills the store's disk: without it one sender could
// fill it at the disk's speed.
const DefaultSenderQuota = 512 << 20

// quota is a token bucket of bytes per sender: each holds up to a
// minute's quota and refills at the quota's rate. It is safe for
// concurrent use; its buckets are one per sender, and senders are the
// configured tokens and the certificates the client CA issued.
type quota struct {
	perMinute int64 // 0: no quota

	mu      sync.Mutex // guards the following fields
	buckets map[string]*quotaBucket
	swept   time.Time // when full buckets were last dropped
}

type quotaBucket struct {
	bytes float64   // bytes left
	at    time.Time // when bytes was computed
}

// take takes n bytes of sender's quota at now. When they are not there it
// takes nothing and returns how long until they are.
func (q *quota) take(sender string, n int64, now time.Time) (time.Duration, bool) {
	if q.perMinute <= 0 {
		return 0, true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.bucketLocked(sender, now)
	if b.bytes >= float64(n) {
		b.bytes -= float64(n)
		return 0, true
	}
	return time.Duration((float64(n) - b.bytes) / q.rate() * float64(time.Second)), false
}

// rate is the bytes a second a bucket refills by.
func (q *quota) rate() float64 { return float64(q.perMinute) / 60 }

// bucketLocked is sender's bucket, refilled to now: made again, full,
// when the sweep dropped it (every charge lands on the sender's live
// bucket, and none on one dropped: TestSenderQuotaChargedAfterBucketSwept).
// q.mu is held.
func (q *quota) bucketLocked(sender string, now time.Time) *quotaBucket {
	if now.Sub(q.swept) >= time.Minute {
		// A bucket idle a minute is full again, as a new one is: dropping
		// it changes no answer, and bounds the buckets by the senders of
		// the last two minutes, not every certificate the CA ever issued.
		// A bucket in debt (charge) is kept until it is full again: made
		// again, full, it would forgive the debt.
		q.swept = now
		for k, b := range q.buckets {
			if d := now.Sub(b.at); d >= time.Minute && b.bytes+d.Seconds()*q.rate() >= float64(q.perMinute) {
				delete(q.buckets, k)
			}
		}
	}
	b := q.buckets[sender]
	if b == nil {
		b = &quotaBucket{bytes: float64(q.perMinute), at: now}
		q.buckets[sender] = b
	}
	if d := now.Sub(b.at).Seconds(); d > 0 {
		b.bytes = math.Min(float64(q.perMinute), b.bytes+d*q.rate())
		b.at = now
	}
	return b
}

// minRecordCharge is the least a record counts against the quota: what
// an empty record stores (its JSON in the entry). A record of two bytes on
// the wire stores some 270, and a quota of a batch's bytes alone let a
// sender of empty records fill the disk 150 times faster than its quota
// (TestSenderQuotaCountsWhatRecordsStore).
var minRecordCharge = int64(len(new(StoredRecord).AppendJSON(nil)))

// takeRecords takes, on top of the body bytes already taken of sender's
// quota, what records of the batch count beyond them, and returns that
// (for giveBack): a batch counts the larger of its bytes and
// minRecordCharge a record, never more than a minute's quota (or it would
// never fit). When that is not there it gives the body bytes back too,
// takes nothing, and returns how long until the whole batch fits. The
// sender's bucket may have been swept since take, the batch having
// waited a minute or more for a decode slot: it was full again then, and
// the records are taken of it made again (they were taken of none, and a
// batch of empty records, a minute's quota in what it stores, cost its
// few bytes).
func (q *quota) takeRecords(sender string, body int64, records int, now time.Time) (int64, time.Duration, bool) {
	if q.perMinute <= 0 {
		return 0, 0, true
	}
	more := min(int64(records)*minRecordCharge, q.perMinute) - body
	if more <= 0 {
		return 0, 0, true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.bucketLocked(sender, now)
	if b.bytes >= float64(more) {
		b.bytes -= float64(more)
		return more, 0, true
	}
	b.bytes = math.Min(float64(q.perMinute), b.bytes+float64(body))
	return 0, time.Duration((float64(body+more) - b.bytes) / q.rate() * float64(time.Second)), false
}

// charge takes n bytes of sender's quota at now, there or not: what a
// stored batch's entry took of the disk (Batch.stored) beyond the bytes
// taken for it before it was stored (take and takeRecords). Those are a
// batch's bytes, or minRecordCharge a record, and JSON escaping stores a
// '<' or a control character in six bytes, a batch of no records in an
// entry of some 450 (its id, sender, time, chain hashes and signature):
// such batches filled the disk up to ten times faster than the quota
// (TestSenderQuotaChargesWhatTheStoreWrites). The bucket may go below
// zero, a batch storing more than it held (more than a minute's quota,
// even): the sender's next batches wait until it has refilled, so over
// time its batches store no more than its quota, the last one stored
// overdrawing it by what it stores at most. It is charged after the
// append, not refused before it: a batch's entry is encoded under the
// store's lock, which a refusal there would have a sender take for
// nothing, batch after batch.
func (q *quota) charge(sender string, n int64, now time.Time) {
	if q.perMinute <= 0 || n <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.bucketLocked(sender, now).bytes -= float64(n)
}

// giveBack gives n bytes taken of sender's quota back: a batch charged
// that stored nothing, for a reason not its sender's spending (ingest).
func (q *quota) giveBack(sender string, n int64, now time.Time) {
	if q.perMinute <= 0 || n <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	b := q.bucketLocked(sender, now)
	b.bytes = math.Min(float64(q.perMinute), b.bytes+float64(n))
}

// overQuota answers 429 sender_quota, with Retry-After (whole seconds, at
// least 1) for when the batch fits the sender's quota: the sidecar keeps
// it in its spool and sends it then.
func (c *Collector) overQuota(w http.ResponseWriter, r *http.Request, sender string, n int64, wait time.Duration) {
	secs := max(int64(math.Ceil(wait.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	c.fail(w, r, rejectQuota, http.StatusTooManyRequests, "sender_quota",
		fmt.Sprintf("sender %s sent more than its %d bytes a minute (--sender-quota); this batch of %d bytes fits in %d s; retry then", sender, c.quota.perMinute, n, secs))
}

// sendersFull answers 503 cert_senders_full: the collector holds state
// for StoreConfig.MaxCertSenders certificate senders and this one is new.
// The sidecar keeps the batch in its spool and retries; a live sender
// idle for StoreConfig.SenderIdle frees a place.
func (c *Collector) sendersFull(w http.ResponseWriter, r *http.Request, err error) {
	// Logged, once a minute at most: the senders refused are new pods
	// whose records wait in their spools, which the operator must hear of
	// here and not only from a counter.
	if now, last := c.cfg.Now().UnixNano(), c.fullLogged.Load(); now-last >= int64(time.Minute) && c.fullLogged.CompareAndSwap(last, now) {
		c.log.Warn().Err(err).Msg("a batch of a new client certificate sender refused 503 cert_senders_full: raise --max-cert-senders, or shorten --cert-sender-idle, if that many senders are expected")
	}
	w.Header().Set("Retry-After", "60")
	c.fail(w, r, rejectSendersFull, http.StatusServiceUnavailable, "cert_senders_full", err.Error())
}
