package collector

import (
	"io"
	"sync"
)

// ingestBuffers are what the intake of one batch reuses from an earlier
// one: the request body and the decoded records. Reading every body into
// a new slice grown as it arrived, and decoding into a new record slice,
// made most of the collector's garbage and a tenth of its CPU per record
// (BenchmarkCollectorIngestCPU). Reuse is safe because DecodeBatch copies
// what it keeps (nothing aliases the body) and the store keeps no record
// after AppendBatch returns (Detection.Detect sees the records only
// during its call).
type ingestBuffers struct {
	body    []byte
	records []StoredRecord
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
	ingestPool.Put(b)
}

// trim drops the buffers over the caps.
func (b *ingestBuffers) trim() {
	if cap(b.body) > maxPooledBody {
		b.body = nil
	}
	if cap(b.records) > maxPooledRecords {
		b.records = nil
	}
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
