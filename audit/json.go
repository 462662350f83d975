package audit

import (
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// AppendJSON appends r as one JSON object (no trailing newline) to dst and
// returns the extended slice. It allocates nothing beyond the growth of dst.
//
// The fields, in order, are time (RFC 3339 with nanoseconds, UTC), tenant,
// client, key_id, auth_method, issuer, token_fingerprint (hex, omitted when
// zero), method, route, path, status, decision, limit (omitted for
// NoLimit), request_id, request_id_source ("client" when the request id
// is the client's X-Request-ID, omitted when the sidecar made it), source_ip,
// approval_id (omitted when empty), cert_serial and cert_issuer (hex, of
// a client certificate refused at the TLS handshake; omitted otherwise),
// bytes_in, bytes_out, duration_us, user_agent, policy_revision and count
// (the records it stands for, omitted below 2), cut ("client" when the
// client's connection failed before the whole response left, omitted
// otherwise). Every string is
// escaped for JSON; invalid UTF-8 is replaced by U+FFFD because paths and
// user agents are attacker-controlled.
func (r *Record) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"time":"`...)
	dst = appendTime(dst, r.Time)
	dst = appendStringField(dst, `","tenant":`, r.Tenant)
	dst = appendStringField(dst, `,"client":`, r.Client)
	dst = appendBytesField(dst, `,"key_id":`, r.KeyID())
	dst = appendStringField(dst, `,"auth_method":`, r.AuthMethod.String())
	dst = appendStringField(dst, `,"issuer":`, r.Issuer)
	if r.TokenFingerprint != ([16]byte{}) {
		dst = append(dst, `,"token_fingerprint":"`...)
		dst = hex.AppendEncode(dst, r.TokenFingerprint[:])
		dst = append(dst, '"')
	}
	dst = appendBytesField(dst, `,"method":`, r.Method())
	dst = appendStringField(dst, `,"route":`, r.Route)
	dst = appendBytesField(dst, `,"path":`, r.Path())
	dst = appendIntField(dst, `,"status":`, int64(r.Status))
	dst = appendStringField(dst, `,"decision":`, r.Decision.String())
	if r.Limit != NoLimit {
		dst = appendStringField(dst, `,"limit":`, r.Limit.String())
	}
	dst = appendBytesField(dst, `,"request_id":`, r.RequestID())
	if r.ClientRequestID {
		dst = appendStringField(dst, `,"request_id_source":`, RequestIDFromClient)
	}
	if r.aprLen > 0 {
		dst = appendBytesField(dst, `,"approval_id":`, r.ApprovalID())
	}
	if r.serialLen > 0 {
		dst = appendBytesField(dst, `,"cert_serial":`, r.CertSerial())
	}
	if r.CertIssuer != ([32]byte{}) {
		dst = append(dst, `,"cert_issuer":"`...)
		dst = hex.AppendEncode(dst, r.CertIssuer[:])
		dst = append(dst, '"')
	}
	return r.appendJSONTail(dst)
}

func (r *Record) appendJSONTail(dst []byte) []byte {
	dst = append(dst, `,"source_ip":"`...)
	if r.SourceIP.IsValid() {
		dst = r.SourceIP.AppendTo(dst)
	}
	dst = append(dst, '"')
	dst = appendIntField(dst, `,"bytes_in":`, r.BytesIn)
	dst = appendIntField(dst, `,"bytes_out":`, r.BytesOut)
	dst = appendIntField(dst, `,"duration_us":`, r.Duration/1e3)
	dst = appendBytesField(dst, `,"user_agent":`, r.UserAgent())
	dst = appendIntField(dst, `,"policy_revision":`, r.PolicyRevision)
	if r.Count > 1 {
		dst = appendIntField(dst, `,"count":`, int64(r.Count))
	}
	if r.ClientCut {
		dst = appendStringField(dst, `,"cut":`, CutClient)
	}
	return append(dst, '}')
}

// appendTime appends unix nanoseconds ns as RFC 3339 UTC with nanoseconds,
// as time.RFC3339Nano renders it (trailing zeros of the fraction cut, no
// fraction when it is zero). Instants from 1970 on (int64 nanoseconds
// end in 2262) are rendered here, the
// date by days from the civil calendar: AppendFormat's general layout
// walk was ~800 of the ~4,660 instructions of a record's AppendJSON
// (callgrind, BenchmarkAuditEncode/json, docs/performance.md);
// TestAppendTimeAsRFC3339Nano holds the two equal.
func appendTime(dst []byte, ns int64) []byte {
	if ns < 0 {
		return time.Unix(0, ns).UTC().AppendFormat(dst, time.RFC3339Nano)
	}
	sec, frac := ns/1e9, ns%1e9 // ns < 2^63: year 2262 at most
	y, m, d := civil(sec / 86400)
	rem := sec % 86400
	dst = append(append2(append2(dst, y/100), y%100), '-')
	dst = append(append2(dst, m), '-')
	dst = append(append2(dst, d), 'T')
	dst = append(append2(dst, rem/3600), ':')
	dst = append(append2(dst, rem/60%60), ':')
	dst = append2(dst, rem%60)
	if frac != 0 {
		var f [10]byte
		f[0] = '.'
		for i := 9; i > 0; i-- {
			f[i] = byte('0' + frac%10)
			frac /= 10
		}
		n := 10
		for f[n-1] == '0' {
			n--
		}
		dst = append(dst, f[:n]...)
	}
	return append(dst, 'Z')
}

// append2 appends v (0 to 99) as two decimal digits.
func append2(dst []byte, v int64) []byte {
	return append(dst, byte('0'+v/10), byte('0'+v%10))
}

// civil returns the proleptic Gregorian year, month and day of the given
// days since 1970-01-01 (days >= 0), by Howard Hinnant's civil_from_days.
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

func appendStringField(dst []byte, name, s string) []byte {
	return AppendJSONString(append(dst, name...), s)
}

func appendBytesField(dst []byte, name string, b []byte) []byte {
	return appendJSONBytes(append(dst, name...), b)
}

func appendIntField(dst []byte, name string, v int64) []byte {
	return strconv.AppendInt(append(dst, name...), v, 10)
}

// AppendJSONString appends s as a quoted JSON string escaped as
// Record.AppendJSON escapes its fields: invalid UTF-8 becomes U+FFFD. The
// collector writes its store entries with it.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendJSONBytes is appendJSONString for a byte slice.
func appendJSONBytes(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, b2s(b))
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// safeASCII reports which ASCII bytes need no escaping inside a JSON string.
// '<', '>' and '&' are escaped too (as encoding/json does) so a record
// pasted into HTML cannot open a tag.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendEscaped appends the JSON escaping of s without quotes. Invalid UTF-8
// becomes \ufffd; U+2028 and U+2029 are escaped for JavaScript consumers,
// and C1 controls and bidirectional formatting characters (mustEscape) so
// a record shown in a terminal or an editor cannot reorder or hide text
// (issue 21 item 11, CVE-2021-42574).
func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendEscapedASCII(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || mustEscape(r) {
			dst = append(dst, s[start:i]...)
			dst = appendUnicodeEscape(dst, r)
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// mustEscape reports whether a valid non-ASCII rune is escaped: C1
// controls, U+2028 and U+2029, and the bidirectional marks, embeddings,
// overrides and isolates.
func mustEscape(r rune) bool {
	switch {
	case r <= 0x9f: // C1 controls U+0080-U+009F
		return true
	case r < 0x61c:
		return false
	}
	return r == 0x61c || r == 0x200e || r == 0x200f || r >= 0x2028 && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

func appendEscapedASCII(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

func appendUnicodeEscape(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// b2s views b as a string without copying; the string must not outlive b
// nor be kept past the call it is passed to.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
