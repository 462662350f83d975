package dataplane

import (
	"bytes"
	"encoding/json"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
	"github.com/valyala/fasthttp"
)

// Refused cookies. A service behind the sidecar may authenticate a
// session cookie besides, or instead of, what the sidecar verifies:
// Django's sessionid, Rails' _app_session, PHP's PHPSESSID, Express's
// connect.sid, hapi-auth-jwt2's token. A client holding only a weak API
// key, or none on a public route, reached the service as whoever such a
// cookie named. The policy's refuse_cookies names them, and a request
// carrying one, on any route, is refused 400 in step 1 (policyHeaders),
// before its body, with an answer naming the cookie as the policy
// writes it, never its value; the audit record holds no cookie.
//
// A name is read as common servers read one: the Cookie lines each
// (servers join several: Node with "; ", Go, Rack and ASP.NET Core read
// them all), split at ';' and at ',' (RFC 2109's separator, which Rack 2
// and some others still take), the name up to its '=' or the whole pair
// without one (Go's net/http reads "sessionid" as that cookie, empty),
// blanks around it dropped (cookieBlank), and then matched by
// cookieNameIs. Python's SimpleCookie
// (aiohttp) also ends a pair at a blank, so each word after a blank in a
// pair is a name too ("a=b sessionid=x"), and ASP.NET Core, retrying a
// pair it cannot parse from each next byte, reads a name after a byte
// it could not take ("@sessionid=x"), but not in a value it parsed
// ("back=/app?sessionid=x"): innerNames. A Cookie line is read once,
// in time linear in its length and the number of names listed.

// refusedCookie returns 1 + the index in snap.RefuseCookies of the first
// of them a Cookie line of raw, a head scanHeaders passed, names; 0 for
// none.
func refusedCookie(raw []byte, snap *policy.Snapshot) int {
	i := 0
	cookieLines(raw, func(v []byte) bool {
		i = cookieNamed(v, snap.RefuseCookies)
		return i != 0
	})
	return i
}

// cookiesOK is policyHeaders' look at the Cookie lines of a request that
// has some, for a policy listing refuse_cookies: false, the cookie noted
// in h for the answer (deny), when one of them names a listed cookie.
func cookiesOK(raw []byte, snap *policy.Snapshot, h *requestHeaders) bool {
	i := refusedCookie(raw, snap)
	h.badCookie = uint8(i)
	return i == 0
}

// cookieNamed returns 1 + the index in wants (lower case) of the first
// cookie name of a Cookie header value v that is one of them, as the
// servers above read names; 0 for none. Each name is read once for all
// of wants.
func cookieNamed(v []byte, wants []string) int {
	k := 0
	cookieNames(v, func(name []byte) bool {
		k = nameOf(name, wants)
		return k != 0
	})
	return k
}

// cookieNames reports whether is holds for a cookie name of a Cookie
// header value v, as the servers above read names: the pairs split at
// ';' and ',', each pair's name up to its '=' (upToEqual) and the names
// inside it (innerNames). The tenant cookie's reading (tenantCookie) and
// refuse_cookies' and tenant_cookies' are this one.
func cookieNames(v []byte, is func(name []byte) bool) bool {
	for len(v) > 0 {
		pair := v
		if i := bytes.IndexAny(v, ";,"); i >= 0 {
			pair, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if is(upToEqual(pair)) || innerNames(pair, is) {
			return true
		}
	}
	return false
}

// innerNames reports whether is holds for a name a common server reads
// inside a cookie pair, past the one at its head (upToEqual), each read
// once, in time linear in the pair's length:
//
//   - Python's SimpleCookie (aiohttp) ends a pair at a blank: each word
//     after a blank, up to the next blank or '=', is a name too
//     ("a=b sessionid=x"). A word ends where the next may start, so the
//     pair is read once: taken up to its '=' from each blank,
//     "a=b + + + ...", 8 KB of it, cost 0.9 s of CPU with 16 names
//     listed (decodeHead drops leading '+' without end).
//   - ASP.NET Core's cookie parser, on a pair it cannot parse, tries
//     again from the next byte (aspNetNames).
func innerNames(pair []byte, is func(name []byte) bool) bool {
	for i := 1; i < len(pair); i++ {
		if !cookieBlank(pair[i-1]) || cookieBlank(pair[i]) {
			continue
		}
		j := i
		for j < len(pair) && !cookieBlank(pair[j]) && pair[j] != '=' {
			j++
		}
		if is(pair[i:j]) {
			return true
		}
		i = j
	}
	return aspNetNames(pair, is)
}

// aspNetNames reports whether is holds for a name ASP.NET Core's cookie
// parser reads in a pair (split at ';' and ',', as it splits them) past
// its head, which upToEqual reads. That parser
// (src/Http/Shared/CookieHeaderParserShared.cs in dotnet/aspnetcore):
//
//   - TryParseValues: on a failed TryParseValue, "// Skip the invalid
//     values and keep trying. index++;": the next try starts one byte
//     past where the failed one started, anywhere in the pair;
//   - TryParseValue: GetNextNonEmptyOrWhitespaceIndex skips spaces and
//     tabs (HttpRuleParser.GetWhitespaceLength: "(c == SP) || (c ==
//     Tab)"), then ',' and ';' ("input[current] != ',' &&
//     input[current] != ';'"); after the value, "if ((separatorFound &&
//     !supportsMultipleValues) || (!separatorFound && (current <
//     value.Length))) return false;": a pair parses only when blanks and
//     then ',', ';' or the end follow its value;
//   - TryGetCookieLength: the name is HttpRuleParser.GetTokenLength's
//     run of token bytes (policy.CookieTchar; "if (itemLength == 0)
//     return false;"), then ReadEqualsSign: "// = (no spaces)";
//   - GetCookieValue: "if (input[offset] == '\"') { inQuotes = true;
//     offset++; }", then the run of CookieValueChar ("cookie-octet =
//     %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E": cookieOctet); "if
//     (offset == input.Length || input[offset] != '\"') { // Missing
//     final quote  return StringSegment.Empty; }" with offset left at
//     the run's end, else past the closing quote.
//
// So "back=/app?token=x" is the cookie back only (its value runs to the
// end), and "@sessionid=x", "a=b\"sessionid=x" and
// "a=b/sessionid=\"x\"" carry sessionid. TryParseValues stores no
// cookie with an empty value ("parsedValue == null ||
// StringSegment.IsNullOrEmpty(parsedValue.Value)) { continue; }"); a
// name parsed so is read all the same here, the refusing side: an older
// ASP.NET Core may have kept it.
//
// Retrying from each byte costs ASP.NET Core time quadratic in a pair;
// this reads the same names in linear time. A try from inside a run of
// token bytes reads a shorter name followed by the same bytes, so it
// fails as the run's did: the next try worth making is at the run's end.
// A try that fails past its '=' ends its value's run at f; a try from a
// name inside that run ends its value there too, and fails as the first
// did, unless its '=' is the run's last byte and a quote at f opens its
// value ("a=b/sessionid=\"x\""): that one try is made, from where its
// name starts, else the next at f.
func aspNetNames(pair []byte, is func(name []byte) bool) bool {
	space := func(c byte) bool { return c == ' ' || c == '\t' }
	for p, head := 0, true; p < len(pair); head = false {
		t := p
		for t < len(pair) && space(pair[t]) {
			t++
		}
		e := t
		for e < len(pair) && policy.CookieTchar(pair[e]) {
			e++
		}
		switch {
		case t == len(pair):
			return false
		case e == t: // not a name: the next byte
			p = t + 1
			continue
		case e == len(pair) || pair[e] != '=':
			p = e
			continue
		}
		o := e + 1
		quoted := o < len(pair) && pair[o] == '"'
		if quoted {
			o++
		}
		f := o
		for f < len(pair) && cookieOctet(pair[f]) {
			f++
		}
		end := f
		if quoted && f < len(pair) && pair[f] == '"' {
			end = f + 1
		}
		for end < len(pair) && space(pair[end]) {
			end++
		}
		if end == len(pair) { // parsed: the pair's end
			return !head && is(pair[t:e])
		}
		p = f
		if f > o && f < len(pair) && pair[f-1] == '=' && pair[f] == '"' {
			s := f - 1
			for s > o && policy.CookieTchar(pair[s-1]) {
				s--
			}
			if s < f-1 {
				p = s
			}
		}
	}
	return false
}

// cookieOctet marks RFC 6265's cookie-octet, the bytes ASP.NET Core's
// GetCookieValue takes in a value (CookieValueChar): 0x21 to 0x7E but
// '"', ',', ';' and '\\'.
func cookieOctet(c byte) bool {
	return c >= 0x21 && c <= 0x7E && c != '"' && c != ',' && c != ';' && c != '\\'
}

// nameOf returns 1 + the index in wants of the one a cookie name is
// (cookieNameIs), or 0. The blanks a decoder drops before it ('+',
// %20, ...) are found once for all of wants.
func nameOf(name []byte, wants []string) int {
	lead := 0
	for lead < len(name) {
		c, w := formByte(name[lead:])
		if c != ' ' && c != '\t' {
			break
		}
		lead += w
	}
	for i, want := range wants {
		if cookieNameIs(name, name[lead:], want) {
			return i + 1
		}
	}
	return 0
}

// upToEqual returns the part of a cookie pair before its first '=', the
// whole pair without one, blanks around it dropped.
func upToEqual(pair []byte) []byte {
	if i := bytes.IndexByte(pair, '='); i >= 0 {
		pair = pair[:i]
	}
	for len(pair) > 0 && cookieBlank(pair[0]) {
		pair = pair[1:]
	}
	for len(pair) > 0 && cookieBlank(pair[len(pair)-1]) {
		pair = pair[:len(pair)-1]
	}
	return pair
}

// cookieBlank marks the bytes servers drop around a cookie name: space
// and tab (Go, Express, ASP.NET Core), \v, \f and \r (PHP's isspace),
// and 0x1C to 0x1F, 0x85 and 0xA0, which Python's str.strip drops from
// a header WSGI and ASGI decode as Latin-1 (Django's and Starlette's
// parse_cookie) and JavaScript's trim drops 0xA0 of (Express's cookie
// 0.x, Node decoding headers as Latin-1).
func cookieBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' || c >= 0x1C && c <= 0x1F || c == 0x85 || c == 0xA0
}

// cookieNameIs reports whether a cookie name (blanks around it dropped)
// is want (lower case) to a common server: as sent, its letters in any
// case (ASP.NET Core's cookie collection ignores case); decoded ('+' and
// %XX escapes: Rack 2, PHP and ASP.NET Core 2 decoded names) with the
// blanks PHP drops first, a '_' of want also spelt '.', ' ' or '[' (PHP
// turns those into '_'), alone or followed by '[' (PHP reads "name[x]"
// as an array under name), NUL (where PHP ends a name) or a blank; or its
// key to Rack's nested parser (rackKey: "[sessionid]", "sessionid]").
// The four letters outside ASCII whose simple case mapping is an ASCII
// letter (U+0130 and U+0131 for i, U+017F for s, U+212A for k), in
// UTF-8, count as that letter too (unicodeFold), a superset of what
// servers read: ASP.NET Core's cookie collection compares names with
// StringComparer.OrdinalIgnoreCase, which compares upper cases. On .NET
// 5 and later with ICU (Linux, Windows 10 1903 and later) it folds none
// of the four: İ and K are their own upper case, and its ordinal casing
// table keeps ı and ſ (dotnet/runtime pal_casing.c,
// InitOrdinalCasingPage). .NET Core 3.1 and earlier on ICU took the
// upper case of each code point as ICU gives it (pal_collation.c,
// CompareStringOrdinalIgnoreCase), ı as I and ſ as S; Windows' NLS
// tables are not checked here. Refusing the four costs a client that
// sends the real name nothing.
//
// Deliberately not read as want: a name that needs more than one decoding
// ("%2573essionid"), or one spelt with another letter outside ASCII that
// looks like an ASCII one (Cyrillic "ѕessionid": no cookie parser
// maps it); pinned by TestRefusedCookieSpellingsNotRead.
//
// rest is name past the blanks decodeHead drops before it (nameOf).
func cookieNameIs(name, rest []byte, want string) bool {
	if len(rest) < len(want) {
		return false // every spelling takes a byte or more for each of want's
	}
	if len(name) == len(want) && cookieBytesAre(name, want, false) || rackKey(name, want) {
		return true
	}
	var e [3 * (policy.MaxRefuseCookieLen + 1)]byte
	var d [policy.MaxRefuseCookieLen + 1]byte
	n := unicodeFold(d[:len(want)+1], e[:decodeHead(e[:3*(len(want)+1)], rest)])
	if n < len(want) || !cookieBytesAre(d[:len(want)], want, true) {
		return false
	}
	return n == len(want) || d[n-1] == '[' || d[n-1] == 0 || cookieBlank(d[n-1])
}

// unicodeFold copies b into d, up to len(d) bytes, each UTF-8 sequence of
// a letter outside ASCII whose simple case mapping is an ASCII letter
// (İ, ı, ſ, K) written as that letter, and returns how many it wrote.
// It folds more than current servers do (cookieNameIs).
func unicodeFold(d, b []byte) int {
	n := 0
	for i := 0; i < len(b) && n < len(d); n++ {
		c, w := b[i], 1
		switch {
		case c == 0xC4 && i+1 < len(b) && (b[i+1] == 0xB0 || b[i+1] == 0xB1): // U+0130, U+0131
			c, w = 'i', 2
		case c == 0xC5 && i+1 < len(b) && b[i+1] == 0xBF: // U+017F
			c, w = 's', 2
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x84 && b[i+2] == 0xAA: // U+212A
			c, w = 'k', 3
		}
		d[n] = c
		i += w
	}
	return n
}

// cookieBytesAre reports whether b is want (lower case), its letters in
// any case; with php, a '_' of want may be '.', ' ' or '[' in b.
func cookieBytesAre(b []byte, want string, php bool) bool {
	for i := range len(want) {
		c, w := b[i], want[i]
		switch {
		case c == w, w >= 'a' && w <= 'z' && c|0x20 == w:
		case php && w == '_' && (c == '.' || c == ' ' || c == '['):
		default:
			return false
		}
	}
	return true
}

// cookieDenials renders the head of the 400's body for each of
// snap.RefuseCookies, as denials does: the error is bad_request, the
// audit record's decision, and the message names the cookie as the
// policy writes it (a token: nothing in it needs escaping, but it is
// escaped as JSON all the same), never the value the client sent.
func cookieDenials(snap *policy.Snapshot) [][]byte {
	out := make([][]byte, len(snap.RefuseCookies))
	for i, n := range snap.RefuseCookies {
		if snap.Doc != nil && i < len(snap.Doc.RefuseCookies) {
			n = snap.Doc.RefuseCookies[i]
		}
		msg, _ := json.Marshal("the cookie " + n + " carries a credential this sidecar does not verify (the policy's refuse_cookies); send the request without it")
		out[i] = []byte(`{"error":"` + audit.BadRequest.String() + `","message":` + string(msg) + `,"request_id":"`)
	}
	return out
}

// cookieDenial returns the head of the 400's body for x, a request on
// ctx: the one naming the refused cookie it carries, else head. A head
// refused before its body has its answer kept on the connection
// (headRefused): errorHandler takes it (denyAs), and so does the handler
// here for a small chunked body read whole, whose head is not read again
// (read108). It was a field of requestHeaders, which cost every decision
// 28 instructions (exchange.reset zeroing 24 bytes more).
func cookieDenial(ctx *fasthttp.RequestCtx, x *exchange, head []byte) []byte {
	if c := ownConn(ctx.Conn()); x.hdr.refused.ofHead() && c != nil && c.cookieDeny != nil {
		return c.cookieDeny // found before the body (headRefused)
	}
	if i := int(x.hdr.badCookie); i > 0 && x.prep != nil && i <= len(x.prep.cookieDeny) {
		return x.prep.cookieDeny[i-1]
	}
	return head
}
