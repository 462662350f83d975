package dataplane

import (
	"bytes"
	"sort"
	"sync"

	"github.com/valyala/fasthttp"
)

// maxConnectionNames is the most field names a request's Connection
// headers may list, all lines together. Each listed name costs a pass
// over the header map to delete it, so a list of thousands was quadratic
// CPU for one request; no client needs more than a few (close,
// keep-alive, upgrade, te).
const maxConnectionNames = 16

// maxTrailerNames is the most distinct field names a chunked request's
// trailer section may hold. Each one costs a pass over the header map and
// the raw header block to remove it; no API client sends more than a few.
const maxTrailerNames = 8

// connectionListOK reports whether the Connection lines of the raw header
// block list at most maxConnectionNames names, none of them a field the
// sidecar relies on end to end (protectedName). Listing one would have the
// sidecar delete it from the forwarded request as hop-by-hop: the
// request's framing, its Host, or headers it sets itself.
func connectionListOK(raw []byte) bool {
	n := 0
	for line := range bytes.Lines(raw) {
		c := bytes.IndexByte(line, ':')
		if c < 0 || !foldEqual(line[:c], "connection") {
			continue
		}
		for name := range bytes.SplitSeq(bytes.TrimRight(line[c+1:], "\r\n"), []byte(",")) {
			name = trimOWS(name)
			if len(name) == 0 {
				continue
			}
			if n++; n > maxConnectionNames || protectedName(name) {
				return false
			}
		}
	}
	return true
}

// protectedName reports whether a Connection header may not list name:
// the framing (Content-Length, Transfer-Encoding, Content-Type), the Host,
// and what the sidecar sets for the upstream (X-Request-ID,
// X-Forwarded-For and every X-Portcullis-* name, in any spelling).
func protectedName(name []byte) bool {
	for _, p := range protectedNames {
		if foldEqual(name, p) {
			return true
		}
	}
	return internalName(name)
}

var protectedNames = []string{
	"host", "content-length", "transfer-encoding", "content-type",
	"x-request-id", "x-forwarded-for",
}

// nameRef is a field name in a nameList's buffer.
type nameRef struct{ off, end uint32 }

// nameList holds lower-cased field names, to count them by sorting
// rather than name by name (which was quadratic in the number of fields).
type nameList struct {
	buf  []byte
	refs []nameRef
	cmps int // comparisons made since reset: tests check the work is O(n log n)
}

func (l *nameList) reset() { l.buf, l.refs, l.cmps = l.buf[:0], l.refs[:0], 0 }

// add appends name, lower-cased.
func (l *nameList) add(name []byte) {
	off := uint32(len(l.buf))
	for _, c := range name {
		if c >= 'A' && c <= 'Z' {
			c |= 0x20
		}
		l.buf = append(l.buf, c)
	}
	l.refs = append(l.refs, nameRef{off, uint32(len(l.buf))})
}

func (l *nameList) name(i int) []byte { r := l.refs[i]; return l.buf[r.off:r.end] }

// sort sorts the names (sort.Interface on the pointer: a closure for
// slices.SortFunc would escape and allocate).
func (l *nameList) sort() { sort.Sort(l) }

func (l *nameList) Len() int           { return len(l.refs) }
func (l *nameList) Less(i, j int) bool { l.cmps++; return bytes.Compare(l.name(i), l.name(j)) < 0 }
func (l *nameList) Swap(i, j int)      { l.refs[i], l.refs[j] = l.refs[j], l.refs[i] }

// run returns the length of the run of equal names starting at sorted
// index i.
func (l *nameList) run(i int) int {
	n := 1
	for i+n < len(l.refs) && bytes.Equal(l.name(i+n), l.name(i)) {
		n++
		l.cmps++
	}
	return n
}

// trailerScratch is what trailerNames sorts in; pooled, since only
// chunked requests need it.
type trailerScratch struct{ fields, lines nameList }

var trailerPool = sync.Pool{New: func() any { return new(trailerScratch) }}

// maxScratch caps the buffers a trailerScratch keeps in the pool.
const maxScratch = 32 << 10

// trailerNames appends to dst, each followed by '\n', the lower-cased
// names that the header map h holds more often than the raw header block
// raw does: those fasthttp merged in from a chunked body's trailer
// section. It returns dst and the number of names. Both lists are sorted
// and then walked side by side: O(n log n) in the number of fields.
func trailerNames(h *fasthttp.RequestHeader, raw, dst []byte) ([]byte, int) {
	sc := trailerPool.Get().(*trailerScratch)
	dst, count := sc.extra(h, raw, dst)
	if cap(sc.fields.buf) <= maxScratch && cap(sc.lines.buf) <= maxScratch &&
		cap(sc.fields.refs) <= maxScratch && cap(sc.lines.refs) <= maxScratch {
		trailerPool.Put(sc)
	}
	return dst, count
}

// extra is trailerNames on the scratch sc.
func (sc *trailerScratch) extra(h *fasthttp.RequestHeader, raw, dst []byte) ([]byte, int) {
	f, l := &sc.fields, &sc.lines
	f.reset()
	l.reset()
	// fasthttp keeps the head's User-Agent apart, one value (the last
	// line's; an empty one: none), and appends a trailer's, which it does
	// not forbid, to its other lines: counted line by line, two User-Agent
	// lines or an empty one in the head hid a trailer's, which reached the
	// service (TestUserAgentTrailerNotForwarded). So the head's User-Agent
	// lines are left out, and counted as the map holds them apart.
	for _, line := range *linesOf(h) { // the head's User-Agent is not among them
		f.add(line.key)
	}
	for line := range bytes.Lines(raw) {
		if c := bytes.IndexByte(line, ':'); c > 0 && !foldEqual(line[:c], "user-agent") {
			l.add(line[:c])
		}
	}
	f.sort()
	l.sort()
	count := 0
	for i, j := 0, 0; i < len(f.refs); {
		name, nf := f.name(i), f.run(i)
		for j < len(l.refs) && bytes.Compare(l.name(j), name) < 0 {
			j += l.run(j)
			l.cmps++
		}
		nl := 0
		if j < len(l.refs) && bytes.Equal(l.name(j), name) {
			nl = l.run(j)
		}
		f.cmps++
		if nf > nl {
			dst = append(append(dst, name...), '\n')
			count++
		}
		i += nf
	}
	return dst, count
}

// trailersOK reports whether a chunked request's trailer section holds at
// most maxTrailerNames distinct names (see dropTrailers), none with a space
// inside. x.buf is scratch. The Trailer header goes first: it is hop-by-hop
// and never forwarded, and iterating a header map that declares a Trailer
// list allocates.
//
// fasthttp keeps a trailer name with a space inside ("X Portcullis-Tenant")
// as it came, unnormalised, and its Del matches such a name only in that
// exact case, so dropTrailers left it in the map and it reached the
// service as a header line, where the header section refuses any name
// with a byte but a letter, digit or '-' (scanHeaders); it is refused as
// well (TestTrailerNameWithSpaceRefused).
func trailersOK(h *fasthttp.RequestHeader, x *exchange) bool {
	delHeader(h, ro(fasthttp.HeaderTrailer), x)
	var n int
	x.buf, n = trailerNames(h, h.RawHeaders(), x.buf[:0])
	return n <= maxTrailerNames && bytes.IndexByte(x.buf, ' ') < 0
}

// listsOK reports whether the request's Connection lists are within
// bounds (connectionListOK), step 1's part of its header lists. Once a
// chunked body was read it also checks the trailer names (trailersOK),
// which are the body's, not the head's: names it refuses do not fail step
// 1 but mark the request (refusalTrailer), which trailerRefused
// refuses 400 after step 1 and the route have named it, as a trailer
// section that ended badly is, with its path and, behind a trusted proxy,
// the forwarded client (TestBadTrailerFieldsDoNotUnnameTheHead). A
// request without either costs two flag tests.
func listsOK(h *fasthttp.RequestHeader, x *exchange) bool {
	if x.hdr.hop && !connectionListOK(h.RawHeaders()) {
		return false
	}
	if x.hdr.chunked && x.hdr.refused != refusalTrailer && !trailersOK(h, x) {
		x.hdr.refused = refusalTrailer
	}
	return true
}
