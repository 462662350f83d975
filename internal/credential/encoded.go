package credential

import (
	"encoding/base64"
	"regexp"
	"strings"
)

// EncodedName is the pattern name of a credential found under an
// encoding: percent-encoded, or in a base64 run (HTTP Basic credentials,
// a token wrapped once more).
const EncodedName = "encoded credential"

// minBase64Run is the shortest run of base64 characters decoded: the
// shortest API key or JWT encodes to more.
const minBase64Run = 24

// HidesEncoded reports whether s, percent-decoded or with one of its
// base64 runs decoded, holds a credential pattern. A run is decoded from
// each of its first four characters, since the alphabet's characters
// before the encoded text (`key_`, a path) join the run. A run of hex
// digits and dashes (request ids, digests, UUIDs) is skipped: every
// base64 encoding of an API key's or a JWT's literal, at each of the
// three alignments, holds a letter past f (TestEncodedLiteralsAreNotHex).
func HidesEncoded(s string) bool {
	if strings.IndexByte(s, '%') >= 0 {
		if d, ok := PercentDecode(s); ok && plainMatch(d) {
			return true
		}
	}
	for i := 0; i < len(s); {
		j, hexOnly := i, true
		for j < len(s) && base64Char[s[j]] && s[j] != '=' {
			hexOnly = hexOnly && (isHex(s[j]) || s[j] == '-')
			j++
		}
		if j-i >= minBase64Run && !hexOnly && runHides(s[i:j]) {
			return true
		}
		// '=' ends a run: it is padding, or a parameter's name and '='
		// (`api_key=`) that would otherwise join the run and fail every
		// decoding offset.
		i = j + 1
	}
	return false
}

// runHides decodes run, a run of base64 characters without padding, from
// each of its first four offsets and reports whether one holds a
// credential pattern. Both alphabets are read at once ('-' as '+', '_' as
// '/'): the characters before the encoded text (`key_`, `/my-keys/`) may
// come from the URL alphabet while the text is in the standard one.
func runHides(run string) bool {
	if strings.ContainsAny(run, "-_") {
		run = urlToStd.Replace(run)
	}
	for off := range 4 {
		r := run[off:]
		if len(r)%4 == 1 { // not a whole encoding: the last character alone is no byte
			r = r[:len(r)-1]
		}
		if d, err := base64.RawStdEncoding.DecodeString(r); err == nil && plainMatch(string(d)) {
			return true
		}
	}
	return false
}

// urlToStd maps the URL base64 alphabet's two characters to the standard's.
var urlToStd = strings.NewReplacer("-", "+", "_", "/")

// PercentDecode decodes the %XX escapes of s and leaves a stray % as it is;
// ok says some escape was decoded.
func PercentDecode(s string) (string, bool) {
	var b strings.Builder
	ok := false
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			if !ok {
				b.Grow(len(s))
				b.WriteString(s[:i])
				ok = true
			}
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		if ok {
			b.WriteByte(s[i])
		}
	}
	return b.String(), ok
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// base64Char marks the characters of both base64 alphabets and padding.
var base64Char = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=" {
		t[c] = true
	}
	return t
}()

// EncodedMatches counts the texts of data (a file) that hide a
// credential under an encoding, and the byte offset of the first.
func EncodedMatches(data []byte) (count, first int) {
	first = -1
	for _, loc := range encodedCandidate.FindAllIndex(data, -1) {
		if HidesEncoded(string(data[loc[0]:loc[1]])) {
			if first < 0 {
				first = loc[0]
			}
			count++
		}
	}
	return count, first
}

// encodedCandidate is a text that may hide an encoded
// credential: a run holding a percent escape, or a base64 run.
var encodedCandidate = regexp.MustCompile(`[^\s,;"'<>|()\[\]{}]*%[0-9A-Fa-f]{2}[^\s,;"'<>|()\[\]{}]*|[A-Za-z0-9+/_=-]{24,}`)
