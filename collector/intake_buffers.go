package collector

import (
	"context"
	"io"
	"sync"
)

// ingestBuffers are what the intake of one batch reuses from an earlier
// one: the request body (the decoded records are reused by decode slot:
// decodeSlot). Reading every body into a new slice grown as it arrived,
// and decoding into a new record slice, made most of the collector's
// garbage and a tenth of its CPU per record (BenchmarkCollectorIngestCPU).
// Reuse is safe because DecodeBatch copies what it keeps (nothing aliases
// the body) and the store keeps no record after AppendBatch returns
// (Detection.Detect sees the records only during its call).
type ingestBuffers struct {
	body []byte
	wire wireBody // the request's body as the connection gives it (readBody)
}

// Caps on the buffers kept for reuse, so that one outsized batch does not
// stay pinned; the bench's batches are about 300 KB and 512 records.
const (
	maxPooledBody    = 4 << 20
	maxPooledRecords = 4096
)

// maxTrustedHint is how much of a request's Content-Length readAll sizes
// its buffer by before the bytes arrive: a sender that declares megabytes
// and sends nothing holds no more than this until data comes, as with
// io.ReadAll (a pooled buffer has grown to the batches' size after the
// first of them, so the hint matters only then).
const maxTrustedHint = 256 << 10

// ingestPool holds the ingestBuffers not in use.
var ingestPool = sync.Pool{New: func() any { return new(ingestBuffers) }}

// release returns b to the pool, without the buffers over the caps.
func (b *ingestBuffers) release() {
	b.trim()
	b.wire = wireBody{} // no reference to the request's body
	ingestPool.Put(b)
}

// trim drops the buffers over the caps.
func (b *ingestBuffers) trim() {
	if cap(b.body) > maxPooledBody {
		b.body = nil
	}
}

// decodeSlots is how many batches are decoded at once, collector-wide.
// A request takes a slot once its body is read and gives it back once
// the store's append returns: the store appends one batch at a time, so
// a request waiting for it held its decoded batch as well as its body,
// and decoded batches were outside the in-flight budget (an outside
// review: one sender's token queued 0.5 to 1 GB of them behind a busy
// store). Two slots let one batch decode while another is appended; the
// requests beyond them wait holding only their bodies, which the budget
// counts. The decoded batches held at once are then at most decodeSlots x
// DecodeLimits.MaxDecodedBytes, and a slot's record buffer's spare room.
const decodeSlots = 2

// decodeSlot is one of the decode slots: it owns the record buffer its
// batches decode into, zeroed between them, so that a record buffer kept
// for reuse holds nothing of an earlier batch (a string, a map) alive.
type decodeSlot struct {
	records []StoredRecord // len: the records to zero when the slot is given back
}

// takeDecodeSlot waits for a decode slot, or for ctx to end (the client
// left). A slot free at once is taken without ctx.Done, which allocates
// the request's done channel.
func (c *Collector) takeDecodeSlot(ctx context.Context) (*decodeSlot, error) {
	select {
	case s := <-c.slots:
		return s, nil
	default:
	}
	select {
	case s := <-c.slots:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// decoded keeps the records of a batch decoded (b, err) into s.records:
// a decode that failed wrote to an unknown length of the buffer.
func (s *decodeSlot) decoded(b *Batch, err error) {
	switch {
	case err != nil:
		s.records = s.records[:cap(s.records)]
	case b.Records != nil:
		s.records = b.Records
	}
}

// giveDecodeSlot zeroes s's records and gives s back; a buffer over
// maxPooledRecords is dropped, so that one outsized batch does not stay
// pinned.
func (c *Collector) giveDecodeSlot(s *decodeSlot) {
	if cap(s.records) > maxPooledRecords {
		s.records = nil
	} else {
		clear(s.records)
		s.records = s.records[:0]
	}
	c.slots <- s
}

// readAll is io.ReadAll into buf's storage, reading at most limit bytes
// (the caller's size limit plus one, which tells a body over the limit).
// A hint (the request's Content-Length; at most maxTrustedHint is taken
// on trust) sizes the buffer once, with the byte more that meets EOF.
// Every growth of the buffer is reserved in hold before it is allocated
// (one atomic add, of the growth: the smaller buffer it copies from is
// garbage once copied, for the GC to take back); a refused reservation
// ends the read with errBusy. The buffer never grows past limit, so a
// body just under the limit holds no growth slack beyond it.
func readAll(buf []byte, src io.Reader, hint, limit int64, hold *bodyHold) ([]byte, error) {
	if hint = min(hint, maxTrustedHint, limit-1); hint > 0 && int64(cap(buf)) <= hint {
		if !hold.take(hint + 1 - int64(cap(buf))) {
			return buf, errBusy
		}
		buf = make([]byte, 0, hint+1)
	}
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= limit {
				return buf, nil
			}
			n := grownCap(cap(buf), limit)
			if !hold.take(int64(n - cap(buf))) {
				return buf, errBusy
			}
			buf = append(make([]byte, 0, n), buf...)
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// grownCap is the capacity readAll grows a buffer of capacity c to:
// double up to 256 KiB, then a quarter more (append's rule for large
// slices, computed here so that it is reserved before the allocation),
// never past limit.
func grownCap(c int, limit int64) int {
	n := max(2*c, 512)
	if c >= 256<<10 {
		n = c + c/4
	}
	return int(min(int64(n), limit))
}
