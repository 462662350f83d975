package credential

import (
	"bytes"
	"encoding/binary"
)

// Mask overwrites with '*', in place and without allocating, the secret
// of each Portcullis API key in b (pk_ID_SECRET, its prefix in any case:
// the id, which is not secret, is kept) and of each JWT (after its "eyJ"),
// in the shapes Redact clears: the sidecar's audit record masks its path
// and user agent so as it fills them, on the request path, where Redact's
// regular expressions and new strings would cost too much
// (TestMaskClearsWhatRedactClears). Text holding neither is left as it
// is, found so eight bytes at a time (mayHold).
func Mask(b []byte) { mask(b, false) }

// MaskCut is Mask for b cut from a longer text at its end: the secret of a
// key that runs to that end is masked whatever its length, since the cut
// may have left fewer characters of it than Mask asks of a secret (the
// audit record cuts its path and user agent: TestCutKeyInAuditRecordMasked).
func MaskCut(b []byte) { mask(b, true) }

// mask is Mask, and with cut MaskCut.
func mask(b []byte, cut bool) {
	if !mayHold(b) {
		return
	}
	for i := 0; ; {
		k := bytes.IndexByte(b[i:], '_')
		if k < 0 {
			break
		}
		i += k + 1
		if i >= len(KeyPrefix) && bytes.EqualFold(b[i-len(KeyPrefix):i], []byte(KeyPrefix)) {
			i = maskKey(b, i, cut)
		}
	}
	for i := 0; ; {
		k := bytes.Index(b[i:], []byte("eyJ"))
		if k < 0 {
			break
		}
		i = maskJWT(b, i+k+len("eyJ"))
	}
}

// maskKey masks the secret of the key whose id starts at b[i], right
// after its prefix, when an id, a '_' and a secret of at least
// minKeySecret characters follow, or, with cut, any secret that runs to
// the end of b; it returns where it stopped.
func maskKey(b []byte, i int, cut bool) int {
	id := runOf(b, i, alnum)
	if id == i || id == len(b) || b[id] != '_' {
		return i
	}
	end := runOf(b, id+1, b64url)
	if end-(id+1) < minKeySecret && !(cut && end == len(b)) {
		return i
	}
	stars(b[id+1 : end])
	return end
}

// maskJWT masks the JWT whose first part starts at b[i], right after its
// "eyJ", when it has the shape Redact clears (tokenAt): two parts of at
// least four base64url characters each, then a third, maybe empty; it
// returns where it stopped.
func maskJWT(b []byte, i int) int {
	p1 := runOf(b, i, b64url)
	if p1-i < 4-len("eyJ") || p1 == len(b) || b[p1] != '.' {
		return i
	}
	p2 := runOf(b, p1+1, b64url)
	if p2-(p1+1) < 4 || p2 == len(b) || b[p2] != '.' {
		return i
	}
	end := runOf(b, p2+1, b64url)
	stars(b[i:end])
	return end
}

// minKeySecret is the shortest secret Redact and Patterns clear.
const minKeySecret = 16

// runOf returns where the run of bytes satisfying ok from b[i] ends.
func runOf(b []byte, i int, ok func(byte) bool) int {
	for i < len(b) && ok(b[i]) {
		i++
	}
	return i
}

// stars overwrites b with '*'.
func stars(b []byte) {
	for i := range b {
		b[i] = '*'
	}
}

// mayHold reports whether b holds a '_' (an API key's prefix ends with
// one) or a 'J' (a JWT's "eyJ"), eight bytes at a time: most paths and
// user agents hold neither, and four searches of each were a tenth of a
// decision's time (the data plane's BenchmarkDecide).
func mayHold(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// marks has the high bit of a byte set where w has a '_' or a 'J' (and
	// maybe of a byte above one: enough to tell whether w has one), so the
	// marks of the words are ORed and tested once.
	marks := func(w uint64) uint64 {
		u, j := w^'_'*ones, w^'J'*ones // a zero byte where b has '_' or 'J'
		return (u-ones)&^u | (j-ones)&^j
	}
	if len(b) < 8 {
		for _, c := range b {
			if c == '_' || c == 'J' {
				return true
			}
		}
		return false
	}
	// The first word and the last, overlapping, without a turn of the
	// loop: most paths and user agents are 8 to 16 bytes long.
	m := marks(binary.LittleEndian.Uint64(b)) | marks(binary.LittleEndian.Uint64(b[len(b)-8:]))
	for i := 8; i+8 < len(b); i += 8 {
		m |= marks(binary.LittleEndian.Uint64(b[i : i+8]))
	}
	return m&highs != 0
}
