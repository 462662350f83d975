package etcdsync

import (
	"fmt"
	"strings"
)

// keyMembers are the member names of a key record (policy.KeySpec's JSON
// tags), spelt exactly.
var keyMembers = [...]string{"id", "client", "sha256", "not_before", "not_after", "revoked", "created_by", "ticket", "created_at"}

// checkKeyMembers reports a member of the key record v that encoding/json
// would take without a word: one named twice (the last wins, so
// {"revoked":true,...,"revoked":false} reads as revoked to whoever reads
// the first, and authenticates), one spelt in another case ("NOT_AFTER",
// or "ſha256" with a long s: encoding/json folds case, and
// DisallowUnknownFields lets them through), or one whose name holds an
// escape ("\u0072evoked" is "revoked"; json.Marshal writes none). A
// record is one object of strings and booleans (policy.KeySpec), so the
// names are found by a scan of the bytes, one level deep: a token
// decoder tripled the cost of decoding a record. What is not such an
// object is left to the decoder to refuse.
func checkKeyMembers(v string) error {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '{' {
		return nil
	}
	var seen uint16
	for i = skipSpace(v, i+1); i < len(v) && v[i] == '"'; i = skipSpace(v, i+1) {
		end := strings.IndexByte(v[i+1:], '"')
		if end < 0 {
			return nil
		}
		name := v[i+1 : i+1+end]
		if strings.IndexByte(name, '\\') >= 0 {
			return fmt.Errorf("member name %q holds an escape", name)
		}
		n := memberIndex(name)
		if n < 0 {
			return nil // an unknown field: DisallowUnknownFields names it
		}
		if keyMembers[n] != name {
			return fmt.Errorf("member %q is spelt in another case than %q", name, keyMembers[n])
		}
		if seen&(1<<n) != 0 {
			return fmt.Errorf("member %q appears twice", name)
		}
		seen |= 1 << n
		if i = skipValue(v, i+2+end); i >= len(v) || v[i] != ',' {
			return nil // '}', or what the decoder refuses
		}
	}
	return nil
}

// memberIndex returns the index in keyMembers of the name encoding/json
// would decode name into (case folded), or -1.
func memberIndex(name string) int {
	for n, m := range keyMembers {
		if m == name {
			return n
		}
	}
	for n, m := range keyMembers {
		if strings.EqualFold(m, name) {
			return n
		}
	}
	return -1
}

// skipSpace returns the index of the first byte of v from i that is not
// JSON white space.
func skipSpace(v string, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r') {
		i++
	}
	return i
}

// skipValue skips the ':' after a member name at i and the string or
// literal after it, and returns the index of the byte after them (past
// white space): a ',' or '}' in a record that decodes.
func skipValue(v string, i int) int {
	if i = skipSpace(v, i); i >= len(v) || v[i] != ':' {
		return len(v)
	}
	i = skipSpace(v, i+1)
	if i < len(v) && v[i] == '"' {
		for i++; i < len(v) && v[i] != '"'; i++ {
			if v[i] == '\\' {
				i++
			}
		}
		return skipSpace(v, i+1)
	}
	for i < len(v) && v[i] != ',' && v[i] != '}' && v[i] != '{' && v[i] != '[' {
		i++
	}
	return i
}
