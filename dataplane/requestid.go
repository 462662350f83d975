package dataplane

import (
	"bytes"
	"encoding/binary"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// idBlock is the number of request ids an exchange claims at a time.
const idBlock = 1 << 16

// requestID is step 1 of the request path, after the header check: it
// keeps a well-formed X-Request-ID or makes one, a random per-process
// prefix and a number no other request of the process gets, written
// without allocating.
func (s *Server) requestID(x *exchange) {
	if id := x.hdr.requestID; len(id) > 0 && validRequestID(id) && !s.madeHere(id) { // most requests have none: no call
		x.reqID = append(x.reqID[:0], id...)
		x.clientID = true
		return
	}
	if x.ids == x.idsEnd {
		x.idsEnd = s.reqSeq.Add(idBlock)
		x.ids = x.idsEnd - idBlock
	}
	if cap(x.reqID) < genIDLen { // the exchange's first generated id
		x.reqID = make([]byte, 0, genIDLen)
	}
	// Written in place, eight bytes at a time: the reslice of x.reqID
	// stores only its length (append stored the pointer too, behind a
	// write barrier check, and called memmove for the prefix).
	x.reqID = x.reqID[:genIDLen]
	x.clientID = false
	id := x.reqID[:genIDLen]
	binary.LittleEndian.PutUint64(id, binary.LittleEndian.Uint64(s.reqPrefix[:8]))
	id[8] = s.reqPrefix[8]
	binary.BigEndian.PutUint64(id[9:], hexDigits(uint32(x.ids>>32)))
	binary.BigEndian.PutUint64(id[17:], hexDigits(uint32(x.ids)))
	x.ids++
}

// genIDLen is the length of a generated request id: the prefix and 16 hex
// digits.
const genIDLen = len(Server{}.reqPrefix) + 16

// madeHere reports whether id, in any case, starts with the prefix of the
// ids this process makes. The prefix is in every answer and the counter
// runs on, so a client could claim the id of another client's request,
// past or next, and two tenants' requests of one sidecar shared it in the
// trail (TestRequestIDOfThisSidecarReplaced). An id another sidecar made,
// passed on by a service calling the next one, is kept.
func (s *Server) madeHere(id []byte) bool {
	return len(id) >= len(s.reqPrefix) && bytes.EqualFold(id[:len(s.reqPrefix)], s.reqPrefix[:])
}

// hexDigits returns the eight lower-case hex digits of v, most
// significant in the top byte: the nibbles are spread one per byte, then
// turned into digits with no branch or table, where a loop over the
// digits branches on each. A generated request id is two of them.
func hexDigits(v uint32) uint64 {
	const ones = 0x0101010101010101
	w := uint64(v)
	w = (w | w<<16) & 0x0000ffff0000ffff
	w = (w | w<<8) & 0x00ff00ff00ff00ff
	w = (w | w<<4) & 0x0f0f0f0f0f0f0f0f // one nibble per byte
	letters := (w + 6*ones) >> 4 & ones // 1 in each byte holding 10..15
	return w + '0'*ones + letters*('a'-'0'-10)
}

// validRequestID reports whether id, a client's X-Request-ID, is kept: 1
// to audit.MaxRequestID letters, digits or "-_.:", not holding the API
// key prefix: a key fits an id's bytes, and a client that sent its own there
// had it in the audit record, the log lines naming the request, the
// response and the request the service got (TestRequestIDHoldingAKeyReplaced);
// the prefix is matched in any case, as a key retyped or upper-cased by a
// client's logging still carries its secret. A JWT is longer than any id
// kept.
func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > audit.MaxRequestID {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return !holdsKeyPrefix(id)
}

// holdsKeyPrefix reports whether id holds policy.KeyPrefix in any case.
func holdsKeyPrefix(id []byte) bool {
	for i := 0; i+len(keyPrefix) <= len(id); i++ {
		if bytes.EqualFold(id[i:i+len(keyPrefix)], keyPrefix) {
			return true
		}
	}
	return false
}

// keyPrefix is policy.KeyPrefix, which an API key starts with.
var keyPrefix = []byte(policy.KeyPrefix)
