package dataplane

import (
	"reflect"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// headerLine mirrors fasthttp's argsKV (v1.74.0, args.go): one line of a
// request header map, which fasthttp writes in the order of its slice
// (RequestHeader.AppendBytes).
type headerLine struct {
	key []byte
	//lint:ignore U1000 mirrors argsKV.value: headerLinesField checks the layout field by field
	value []byte
	//lint:ignore U1000 mirrors argsKV.noValue: headerLinesField checks the layout field by field
	noValue bool
}

// linesAt is where a RequestHeader keeps its lines (its field h, a
// []argsKV, in the embedded header), and linesOK reports that the field
// is laid out as headerLine mirrors it. Without it New refuses to make a
// Server; TestHeaderLinesLayout fails first, on the fasthttp upgrade.
var linesAt, linesOK = headerLinesField()

// headerLinesField finds RequestHeader's field h and checks its element
// type field by field (name, type, offset) against headerLine.
func headerLinesField() (uintptr, bool) {
	t := reflect.TypeFor[fasthttp.RequestHeader]()
	f, ok := t.FieldByName("h")
	if !ok || f.Type.Kind() != reflect.Slice {
		return 0, false
	}
	var at uintptr
	for typ, i := t, 0; i < len(f.Index); i++ { // h is promoted from the embedded header
		sf := typ.Field(f.Index[i])
		at, typ = at+sf.Offset, sf.Type
	}
	got, want := f.Type.Elem(), reflect.TypeFor[headerLine]()
	if got.Kind() != reflect.Struct || got.Size() != want.Size() || got.NumField() != want.NumField() {
		return 0, false
	}
	for i := range want.NumField() {
		g, w := got.Field(i), want.Field(i)
		if g.Name != w.Name || g.Type != w.Type || g.Offset != w.Offset {
			return 0, false
		}
	}
	return at, true
}

// delHeader deletes every line of h named name, as h.DelBytes does, and
// keeps the order of the lines left. fasthttp deletes a line by moving
// the map's last line into its place (delAllArgs; its order-keeping
// delAllArgsStable serves only Args.Del), so removing the credential or a
// hop-by-hop header sent "Cookie: a=b" then "Cookie: c=d" on as c=d then
// a=b, where RFC 9110 section 5.3 asks a proxy to keep the order of the
// lines of one name (TestForwardedHeaderOrder). The lines named as
// DelBytes names them (fasthttp's normalised key, compared exactly; x.delKey
// is scratch) are taken out first, in order; DelBytes then clears what it
// keeps outside the lines (Host, Cookie, Content-Type, ...) and removes
// any line of that name left, so the lines that go on are the same either
// way. It costs a pass over the lines more than DelBytes alone.
func delHeader(h *fasthttp.RequestHeader, name []byte, x *exchange) {
	delLinesAfter(h, name, 0, x)
	h.DelBytes(name)
}

// delLinesAfter deletes the lines of h named name past its first keep,
// keeping the order of the lines left. It touches only the lines: what
// fasthttp keeps apart (User-Agent, Host, ...) stays, where DelBytes
// would clear it. x.delKey is scratch.
func delLinesAfter(h *fasthttp.RequestHeader, name []byte, keep int, x *exchange) (first int) {
	x.delKey = fasthttp.AppendNormalizedHeaderKeyBytes(x.delKey[:0], name)
	lines := linesOf(h)
	*lines, first = dropLines(*lines, x.delKey, keep)
	return first
}

// cutHeader is delHeader for a credential header (credHeader: a name
// of one line, scanHeaders refused a repeated one), returning where that
// line stood among the lines, or -1, so that pasteHeader can put it back
// in its place. The name comes normalised already and is one fasthttp
// keeps only among the lines, so neither delLinesAfter's normalising nor
// DelBytes' pass is needed: they were 900 of the ~21,000 instructions
// of a proxied request (BenchmarkHandler, docs/performance.md).
func cutHeader(h *fasthttp.RequestHeader, name credHeader) int {
	lines := linesOf(h)
	var at int
	*lines, at = dropLines(*lines, name.key, 0)
	return at
}

// credHeader is a credential header's name as the client may spell it
// (name) and as fasthttp's parser stores it among the lines (key).
type credHeader struct{ name, key []byte }

// credAuthorization and credAPIKey are the two headers a credential
// comes in. TestCredHeadersNormalised holds key to fasthttp's
// normalising of name, and that fasthttp keeps no copy of either
// outside the lines (as it keeps Host or Cookie), which DelBytes would
// clear.
var (
	credAuthorization = credHeader{name: []byte("Authorization"), key: []byte("Authorization")}
	credAPIKey        = credHeader{name: []byte("X-API-Key"), key: []byte("X-Api-Key")}
)

// pasteHeader adds the line name: value to h at index at of its lines
// (where cutHeader took it from), or last when at is past them. fasthttp
// adds it last, into a line buffer of its own (copying name, normalised
// as its parser does, and value); it is then swapped into place, so no
// two lines share a buffer and the others keep their order.
func pasteHeader(h *fasthttp.RequestHeader, name, value []byte, at int) {
	h.AddBytesKV(name, value)
	lines := *linesOf(h)
	for i := len(lines) - 1; i > at && i > 0; i-- {
		lines[i], lines[i-1] = lines[i-1], lines[i]
	}
}

// linesOf returns where h keeps the lines of its map (linesOK holds: New
// checked it): a chunked body's trailers appended after the head's,
// without the headers fasthttp keeps apart (Host, Content-Type,
// Content-Length, User-Agent, Trailer, a Connection of close). Walking
// them rather than h.All leaves the Cookie lines as they came: h.All
// collects them first, and fasthttp then writes one Cookie line it
// rendered from what it parsed, last, a quoted value unquoted and a pair
// it cannot parse dropped (TestCookieLinesForwardedAsSent). Nothing may
// keep a line past a change to h.
func linesOf(h *fasthttp.RequestHeader) *[]headerLine {
	return (*[]headerLine)(unsafe.Add(unsafe.Pointer(h), linesAt))
}

// dropLines removes the lines named key from lines but the first keep of
// them, keeping the order of the others, and returns the index of the
// first line removed, or -1. The removed lines are swapped,
// not overwritten, past the new end, as fasthttp's own deletes leave
// them: the map reuses their buffers for the lines it adds next, and no
// two lines may share one.
func dropLines(lines []headerLine, key []byte, keep int) (_ []headerLine, first int) {
	n, first := 0, -1
	for i := range lines {
		if string(lines[i].key) == string(key) {
			if keep--; keep < 0 {
				if first < 0 {
					first = i
				}
				continue
			}
		}
		if n != i { // no line moves before the first match: most calls match none
			lines[n], lines[i] = lines[i], lines[n]
		}
		n++
	}
	return lines[:n], first
}
