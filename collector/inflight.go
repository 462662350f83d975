package collector

import (
	"errors"
	"sync"
	"sync/atomic"
)

// inflightBudget bounds the memory held by the requests being read,
// collector-wide: each request's body buffer (its capacity, a pooled
// buffer's included) and its gzip reader. Without it a sender's token
// opened many connections, sent on each a few KB of gzip that decompress
// to just under MaxBodyBytes and stalled before the trailer, and every
// connection held its decompressed body until the read timeout: 48
// connections held 948 MiB (an outside review's finding 6). A request
// reserves before it takes the memory, with one atomic add and no lock,
// and gives its reservation back when it is done with the body (after
// the store's append); a reservation over the budget is refused, and the
// request answered 503 collector_busy (Collector.busy).
type inflightBudget struct {
	max  int64
	held atomic.Int64
	// senders holds each sender's share of held: one sender may hold at
	// most half the budget, so a compromised sidecar's token that stalls
	// bodies on many connections cannot keep every other sender's batches
	// out (they would wait in their spools, and a spool that fills makes
	// a sidecar in strict audit mode refuse its traffic). A share is kept
	// while a request of its sender holds it (refs), then dropped: kept
	// for every sender name ever seen, it grew with each client
	// certificate identity that sent a batch, refused ones included
	// (TestInflightSharesNotKeptPerSenderEver).
	mu      sync.Mutex // guards senders and the shares' refs
	senders map[string]*senderShare
}

// senderShare is what one sender's requests being read hold.
type senderShare struct {
	held atomic.Int64
	name string
	refs int // the requests holding the share; guarded by inflightBudget.mu
}

// share returns sender's share, held by the caller until it calls
// unshare.
func (b *inflightBudget) share(sender string) *senderShare {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.senders[sender]
	if s == nil {
		if b.senders == nil {
			b.senders = map[string]*senderShare{}
		}
		s = &senderShare{name: sender}
		b.senders[sender] = s
	}
	s.refs++
	return s
}

// unshare gives back a share taken with share, dropping it when no
// request holds it.
func (b *inflightBudget) unshare(s *senderShare) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.refs--; s.refs == 0 {
		delete(b.senders, s.name)
	}
}

// shares is how many senders the budget keeps a share for.
func (b *inflightBudget) shares() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.senders)
}

// errBusy is what a refused reservation makes readBody return.
var errBusy = errors.New("collector busy")

// gzipReaderBytes is what a request's gzip reader holds while it is read
// (the 32 KiB window, the Huffman tables and a 4 KiB read buffer: 45 KB
// measured, TestGzipReaderChargeCoversItsState), reserved with the body.
const gzipReaderBytes = 48 << 10

// maxRequestHold is the most one request reserves when the largest batch
// is maxBody bytes: a buffer of maxBody+1 (readAll grows it no further),
// and a gzip reader. A budget below it would refuse such a batch forever.
func maxRequestHold(maxBody int64) int64 {
	return maxBody + 1 + gzipReaderBytes
}

// bodyHold is one request's reservation. A nil *bodyHold reserves
// nothing and refuses nothing (readAll outside the intake).
type bodyHold struct {
	budget *inflightBudget
	sender *senderShare // the request's sender's share (inflightBudget.share); nil: not counted per sender
	n      int64        // bytes reserved
}

// take reserves n more bytes and reports whether they fit the budget;
// when they do not, nothing is reserved. A request that overshoots
// briefly when another is near the budget may refuse that one too:
// both are answered 503 and retried, which no lock is worth.
func (h *bodyHold) take(n int64) bool {
	if h == nil || n <= 0 {
		return true
	}
	if h.budget.held.Add(n) > h.budget.max {
		h.budget.held.Add(-n)
		return false
	}
	if h.sender != nil && h.sender.held.Add(n) > h.budget.max/2 {
		h.sender.held.Add(-n)
		h.budget.held.Add(-n)
		return false
	}
	h.n += n
	return true
}

// release gives back everything h reserved, and its sender's share.
func (h *bodyHold) release() {
	if h.n != 0 {
		h.budget.held.Add(-h.n)
		if h.sender != nil {
			h.sender.held.Add(-h.n)
		}
		h.n = 0
	}
	if h.sender != nil {
		h.budget.unshare(h.sender)
		h.sender = nil
	}
}
