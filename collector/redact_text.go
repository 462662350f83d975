package collector

// The free-text rules of redaction: a credential's value after its name
// in a text (redactPairs: NAME=VALUE, NAME: VALUE, quoted, encoded, in
// cookie lists, XML elements and authentication parameter lists) and
// after its name in prose (redactProse). redact.go holds what names a
// credential (credentialKey, foldName) and the attributes' rules.

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// redactPairs returns s with the value of each pair in it whose name
// names a credential (credentialKey) replaced by Redacted: NAME=VALUE and
// NAME: VALUE (spaces around '=' or ':' allowed, the name maybe quoted),
// as a log line, a query string, a header dump, a curl command or a JSON
// text writes them: "login password=hunter2 user=bob", "?api_key=...&",
// "-H 'Cookie: sid=...'", {"password": "..."} were stored as sent
// (TestForeignPairsInTextRedacted). A name is a run of letters, digits,
// '_', '-', '.', '%' and characters outside ASCII before the separator
// (so foldName reads it); the value is the rest of a quoted string ('...',
// "..." or \"...\" in a rendered JSON string, \\\"...\\\" in one rendered
// twice: TestForeignTwiceRenderedJSONRedacted), or runs to a space, a quote,
// a backslash or one of & ; , ) ] } < > (a Cookie header's, its list of
// cookies: cookieList). '=>' (a Ruby or PHP hash) separates as '=' does,
// and so does '=' percent-encoded, once or twice ("%3D", "%253D": a URL
// in another's query), its value then running to the next encoded '&'
// (TestForeignPercentEncodedPairsRedacted); so do ':' percent-encoded,
// both as HTML character references and both in fullwidth (pairSep). An
// XML element naming a credential has its text cleared (xmlElementText).
// An HTTP authentication scheme
// there (authScheme: "Authorization: Bearer abc") is kept and the
// credential after it cleared. A value already Redacted is
// left. The cost is a harmless word after such a name in prose
// ("password: required" stores "password: [REDACTED] required"). A
// value on the line after its name (afterLineBreak), opened by an
// escaped quote (quoteLen) or starting with a \u escape (valueRun), and
// a name with HTML character references (nameRefBefore, foldName) are
// read too; a password's value after ':' or '=' and a space or a line
// break runs over its words (phraseEnd: "password: correct horse battery
// staple"); a secret with no '=' or ':' after its name ("password is
// hunter2") is redactProse's.
func redactPairs(s string) string {
	var b strings.Builder
	done := 0 // s[:done] is in b, or, while b is empty, needs no change
	for i := 0; i < len(s); {
		sep := i
		for sep < len(s) && !sepByte[s[sep]] {
			sep++
		}
		if sep == len(s) {
			break
		}
		i = sep + 1
		if s[sep] == '>' {
			from, to, ok := xmlElementText(s, done, sep)
			if !ok {
				continue
			}
			if b.Len() == 0 {
				b.Grow(len(s))
			}
			b.WriteString(s[done:from])
			b.WriteString(Redacted)
			done, i = to, to
			continue
		}
		n, encoded := pairSep(s[sep:])
		if n == 0 {
			continue
		}
		i = sep + n
		name := pairName(s[done:sep])
		if name == "" || !credentialKey(name) {
			continue
		}
		from, to, plain := pairValue(s, i, cookieList(name) && !encoded, encoded)
		if from == to {
			continue
		}
		if plain && n == 1 && phraseSep(s, sep) && passwordName(name) {
			to = phraseEnd(s, sep, to)
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[done:from])
		b.WriteString(Redacted)
		done, i = to, to
		if encoded || !setCookie(name) {
			continue
		}
		for {
			from, to, ok := nextSetCookie(s, i)
			if !ok {
				break
			}
			if from < to && !strings.HasPrefix(s[from:], Redacted) {
				b.WriteString(s[done:from])
				b.WriteString(Redacted)
				done = to
			}
			i = to
		}
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// sepByte marks the bytes a pair's separator (pairSep) or an XML start
// tag's end starts with.
var sepByte = [256]bool{'=': true, ':': true, '%': true, '>': true, '&': true, 0xef: true}

// pairSep returns the length of the separator of a pair at the start of
// s, 0 when there is none, and whether it is percent-encoded: '=' or
// ':'; either percent-encoded once or twice ("%3D", "%3A", "%253D"), the
// value then running to the next encoded '&'; either as a numeric HTML
// character reference or a named one ("&#61;", "&#x3d;", "&equals;",
// "&#58;", "&colon;": an HTML-escaped log line, whose value was stored
// as sent: TestForeignEscapedSeparatorsRedacted); or either in fullwidth
// ("＝", "：", as Chinese and Japanese text write them:
// TestForeignNamesInOtherScriptsRedacted).
func pairSep(s string) (n int, encoded bool) {
	switch s[0] {
	case '=', ':':
		return 1, false
	case '%':
		if n := encodedMark(s, "3d"); n > 0 {
			return n, true
		}
		return encodedMark(s, "3a"), true
	case '&':
		if n, r := htmlRef(s); r == '=' || r == ':' {
			return n, false
		}
		for _, ref := range [...]string{"&equals;", "&colon;"} {
			if strings.HasPrefix(s, ref) {
				return len(ref), false
			}
		}
	case 0xef:
		if strings.HasPrefix(s, "＝") || strings.HasPrefix(s, "：") {
			return len("＝"), false
		}
	}
	return 0, false
}

// pairName returns the name that ends text, before a pair's separator:
// spaces and a closing quote (quoteBefore) are passed over first, and a
// \u escape before the name is not part of it. A letter or digit written
// as a numeric HTML character reference is part of it ("p&#x61;ssword",
// which foldName reads as "password").
func pairName(text string) string {
	e := len(text)
	for e > 0 && (text[e-1] == ' ' || text[e-1] == '\t') {
		e--
	}
	e -= quoteBefore(text[:e])
	n := e
	for n > 0 {
		if pairNameByte(text[n-1]) && !encodedBoundary(text[:n]) && !wideMarkBefore(text[:n]) {
			n--
			continue
		}
		// A letter written as an HTML character reference: "&#112;assword".
		if k := nameRefBefore(text[:n]); k > 0 {
			n -= k
			continue
		}
		break
	}
	n = wordsBefore(text, n, e)
	// A rendered JSON string writes '&', '<' and '>' as \u0026, \u003c,
	// \u003e: "a=1\u0026sid=..." names sid, not u0026sid.
	if n > 0 && text[n-1] == '\\' && e-n > 5 && text[n] == 'u' && hex4(text[n+1:n+5]) {
		n += 5
	}
	return text[n:e]
}

// wideMarks are the marks of Chinese and Japanese text that end a pair's
// name or value, as a space or a comma ends one in ASCII: "密码：x，用户：bob"
// names 用户, not all of "密码：x，用户", and the value of 密码 is x.
var wideMarks = [...]string{"：", "＝", "，", "；", "、", "。", "（", "）", "「", "」", "　"}

// wideMarkBefore reports whether text ends in one of wideMarks.
func wideMarkBefore(text string) bool {
	return len(text) >= 3 && text[len(text)-1] >= utf8.RuneSelf && wideMarkAt(text[len(text)-3:])
}

// wideMarkAt reports whether s starts with one of wideMarks.
func wideMarkAt(s string) bool {
	if len(s) < 3 || s[0] != 0xef && s[0] != 0xe3 {
		return false
	}
	for _, m := range wideMarks {
		if s[:3] == m {
			return true
		}
	}
	return false
}

// hex4 reports whether s is four hex digits.
func hex4(s string) bool {
	for i := range 4 {
		c := s[i] | 0x20
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// quoteLen returns the length of the quote that opens s, or 0: ' or ",
// escaped once or more (\" in a rendered JSON string, \\\" in one
// rendered twice), either as a JSON \u escape (\u0022, \u0027), or as an
// HTML character reference (&quot; &#34; &#x22; &apos; &#39; &#x27;).
// A value opened by \u0022 or &quot; was stored as sent
// (TestForeignEscapedQuotesRedacted, TestForeignHTMLEscapedNamesRedacted).
func quoteLen(s string) int {
	k := run(s, func(c byte) bool { return c == '\\' })
	if k < len(s) && (s[k] == '"' || s[k] == '\'') {
		return k + 1
	}
	if k > 0 && len(s) >= k+5 && s[k] == 'u' && (s[k+1:k+5] == "0022" || s[k+1:k+5] == "0027") {
		return k + 5
	}
	if k > 0 || len(s) == 0 || s[0] != '&' {
		return 0
	}
	for _, q := range htmlQuotes {
		if len(s) >= len(q) && strings.EqualFold(s[:len(q)], q) {
			return len(q)
		}
	}
	return 0
}

// htmlQuotes are the HTML character references of ' and ".
var htmlQuotes = [...]string{"&quot;", "&#34;", "&#x22;", "&apos;", "&#39;", "&#x27;"}

// quoteBefore returns the length of the quote (quoteLen) that ends
// text, or 0.
func quoteBefore(text string) int {
	e := len(text)
	if e == 0 {
		return 0
	}
	switch text[e-1] {
	case '"', '\'':
		e--
	case '2', '7':
		if e < 6 || text[e-6] != '\\' || text[e-5:e] != "u0022" && text[e-5:e] != "u0027" {
			return 0
		}
		e -= 5
	case ';':
		for _, q := range htmlQuotes {
			if e >= len(q) && strings.EqualFold(text[e-len(q):], q) {
				return len(q)
			}
		}
		return 0
	default:
		return 0
	}
	for e > 0 && text[e-1] == '\\' {
		e--
	}
	return len(text) - e
}

// nameRefBefore returns the length of the numeric HTML character
// reference of an ASCII letter or digit that ends text, or 0.
func nameRefBefore(text string) int {
	e := len(text)
	if e < 4 || text[e-1] != ';' {
		return 0
	}
	a := strings.LastIndexByte(text[max(0, e-10):], '&')
	if a < 0 {
		return 0
	}
	a += max(0, e-10)
	if n, r := htmlRef(text[a:]); n == e-a && r < utf8.RuneSelf && pairNameByte(byte(r)) && r != '%' {
		return n
	}
	return 0
}

// pairNameByte reports whether c may be part of a pair's name.
func pairNameByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c == '%' || c >= utf8.RuneSelf ||
		'0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// pairValue returns where the value of a pair whose separator ends at
// s[i] starts and ends (the same when there is none to clear), and
// whether it is plain: a run of a word's bytes, not quoted, not a list
// of cookies or an authentication scheme's credential. After an
// authentication scheme and a space, the value is what follows.
func pairValue(s string, i int, cookies, encoded bool) (from, to int, plain bool) {
	if encoded {
		// After "%3D", the value runs to the next encoded '&' ("%26").
		to = i
		for to < len(s) && valueByte(s[to]) && (s[to] != '%' || encodedMark(s[to:], "26") == 0) {
			to++
		}
		return i, to, false
	}
	// Ruby's and PHP's "password"=>"..." and 'passwd' => '...'.
	if i < len(s) && s[i] == '>' && s[i-1] == '=' {
		i++
	}
	scheme := false
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if !scheme {
			i = afterLineBreak(s, i)
		}
		if strings.HasPrefix(s[i:], Redacted) {
			return i, i, false
		}
		if n := authParamsRun(s[i:]); scheme && n > 0 {
			return i, i + n, false
		}
		// A quote (quoteLen): the value runs to the same again.
		if k := quoteLen(s[i:]); k > 0 {
			q := s[i : i+k]
			i += len(q)
			end := strings.Index(s[i:], q)
			if end < 0 {
				end = len(s) - i
			}
			return i, i + end, false
		}
		if cookies {
			return i, i + cookieRun(s[i:]), false
		}
		to = i + valueRun(s[i:])
		if to+1 >= len(s) || s[to] != ' ' || !authScheme(s[i:to]) {
			return i, to, !scheme
		}
		i, scheme = to+1, true
	}
}

// phraseSep reports whether the separator of a pair at s[sep], '=' or
// ':', is followed by a space, a tab or a line break, as a YAML map, a
// form dump or an INI file writes a value that may hold spaces
// ("password: correct horse battery staple", "password = ..."); a value
// right after '=' ("password=x user=bob", a log line's pairs) ends at
// the space.
func phraseSep(s string, sep int) bool {
	return sep+1 < len(s) && strings.IndexByte(" \t\r\n", s[sep+1]) >= 0
}

// phraseEnd returns where the value of a password's pair (passwordName)
// whose first word ends at s[to] ends, when it is a passphrase of several
// words: its words on the same line (phraseWords), and, when the value
// ran to its line's end, the next line's when that line goes on with it
// (phraseLine): "password: tangerine oyster\nlampshade velvet",
// "passphrase: violet kettle\n    marble anchor". The words after the
// first were stored as sent (TestForeignPasswordWordAndPassphraseRedacted).
// One line at most: a stack trace's frames or a dump's lines after a
// password's are not read as its.
func phraseEnd(s string, sep, to int) int {
	to, ended := phraseWords(s, to)
	if ended {
		return to // "... staple." ended its sentence
	}
	j := proseSpaces(s, to)
	if j < len(s) && s[j] == '\r' {
		j++
	}
	if j == len(s) || s[j] != '\n' {
		return to
	}
	k := proseSpaces(s, j+1)
	if k == len(s) || !phraseLine(s[k:], k-(j+1) > lineIndent(s, sep)) || !phraseWord(s, k) {
		return to
	}
	n := k + valueRun(s[k:])
	if e := marksBefore(s, n); e < n {
		return e
	}
	to, _ = phraseWords(s, n)
	return to
}

// phraseLine reports whether line, the line after a passphrase's (its
// indent passed over), goes on with it: it starts with a lower-case
// letter, or, indented deeper than the name's line (deeper), as a YAML
// plain scalar goes on, with any letter or digit; and it is no stack
// frame ("at com.example..."), no list's item and no sentence
// (sentenceStart: "password: x1\nThe job finished" keeps its second line).
func phraseLine(line string, deeper bool) bool {
	c := line[0]
	if deeper {
		if c < utf8.RuneSelf && !('a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	} else if !('a' <= c && c <= 'z') {
		return false
	}
	return !strings.HasPrefix(line, "at ") && !sentenceStart(line)
}

// phraseWords returns where the words that follow the word ending at
// s[to] on its line, spaced by spaces or tabs, end (phraseWord), and
// whether a mark ended a sentence there: the mark is left out ("staple."
// ends before the '.').
func phraseWords(s string, to int) (int, bool) {
	for {
		if e := marksBefore(s, to); e < to {
			return to, true // the first word's mark is its pair's value's
		}
		j := proseSpaces(s, to)
		if j == to || !phraseWord(s, j) {
			return to, false
		}
		to = j + valueRun(s[j:])
		if e := marksBefore(s, to); e < to {
			return e, true
		}
	}
}

// marksBefore returns where the marks that end a sentence ('.', '!',
// '?') before s[to] start.
func marksBefore(s string, to int) int {
	for to > 0 && strings.IndexByte(".!?", s[to-1]) >= 0 {
		to--
	}
	return to
}

// phraseWord reports whether the word at s[j] may be a passphrase's: it
// holds a letter or a digit, does not open with a bracket, is not
// already Redacted and is not a pair's name of its own ("host = db",
// "user: bob", "mot de passe: ...", which ends the passphrase).
func phraseWord(s string, j int) bool {
	n := valueRun(s[j:])
	if n == 0 || strings.IndexByte("([{", s[j]) >= 0 || strings.HasPrefix(s[j:], Redacted) || !wordLetters(s[j:j+n], false) {
		return false
	}
	e := j + run(s[j:], pairNameByte)
	k := proseSpaces(s, e)
	if k < len(s) && (s[k] == '=' || s[k] == ':') {
		return false
	}
	// A name of words spaced apart ("mot de passe:", "API key:",
	// wordsBefore) is a pair's name of its own too.
	for range 2 {
		n := run(s[k:], pairNameByte)
		if k == e || n == 0 {
			return true
		}
		m := proseSpaces(s, k+n)
		if m < len(s) && (s[m] == '=' || s[m] == ':') {
			return wordsBefore(s, k, k+n) > j
		}
		e, k = k+n, m
	}
	return true
}

// lineIndent returns how many spaces and tabs start the line that holds
// s[sep], read back at most 256 bytes (a line longer than that is taken
// for one indented no deeper than any: no line goes on deeper than it).
func lineIndent(s string, sep int) int {
	start := max(0, sep-256)
	nl := strings.LastIndexByte(s[start:sep], '\n')
	if nl < 0 && start > 0 {
		return len(s)
	}
	return run(s[start+nl+1:sep], func(c byte) bool { return c == ' ' || c == '\t' })
}

// afterLineBreak returns where the value of a pair starts when its
// separator ends a line: "password:\n  hunter2", "password:\r\nhunter2"
// were stored as sent (TestForeignValueOnNextLineRedacted). After one
// line break and the spaces and tabs that indent the next line, the value
// is that line's first run, unless that line is a pair of its own
// ("password:\nregion: eu", a YAML map's next member). Elsewhere i.
func afterLineBreak(s string, i int) int {
	j := i
	if j < len(s) && s[j] == '\r' {
		j++
	}
	if j == len(s) || s[j] != '\n' {
		return i
	}
	j++
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	if k := j + run(s[j:], pairNameByte); k < len(s) && (s[k] == ':' || s[k] == '=') {
		return i
	}
	if sentenceStart(s[j:]) {
		return i
	}
	return j
}

// sentenceStart reports whether the line s starts a sentence rather than
// holding a value: its first word is one of sentenceWords and a space
// and another word follow ("Password:\nThe user logged in", "Password:\n
// Please retry": the word was cleared). Any other word is taken for the
// value, a capitalised one included ("Password:\nHunter2", "Password:\n
// Correct horse battery staple"): what reads as a sentence may be a
// passphrase.
func sentenceStart(s string) bool {
	n := run(s, func(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' })
	return n > 0 && n+1 < len(s) && s[n] == ' ' && 'a' <= s[n+1]|0x20 && s[n+1]|0x20 <= 'z' && lowerIn(s[:n], sentenceWords)
}

// sentenceWords are the words a sentence starts with that a secret
// hardly is: articles, pronouns, determiners and a request's words.
var sentenceWords = map[string]bool{
	"the": true, "a": true, "an": true, "this": true, "that": true, "these": true, "those": true, "it": true,
	"its": true, "your": true, "you": true, "we": true, "our": true, "they": true, "there": true, "please": true,
	"if": true, "when": true, "what": true, "which": true, "no": true, "not": true, "must": true, "should": true,
	"enter": true, "use": true, "click": true, "try": true, "see": true, "user": true, "login": true,
}

// valueRun returns the length of the unquoted value at the start of s:
// its bytes (valueByte) and the JSON \u escapes of characters that
// would be (a rendered JSON string's "password=\u0068unter2": the value
// ended at the backslash, empty, and was stored as sent:
// TestForeignEscapedQuotesRedacted).
func valueRun(s string) int {
	n := 0
	for n < len(s) {
		if valueByte(s[n]) && !wideMarkAt(s[n:]) {
			n++
			continue
		}
		if s[n] != '\\' || len(s)-n < 6 || s[n+1] != 'u' || !hex4(s[n+2:n+6]) {
			break
		}
		if h := s[n+2 : n+6]; h[:2] == "00" && !valueByte(unhex2(h[2:])) {
			break
		}
		n += 6
	}
	return n
}

// unhex2 returns the byte two hex digits write.
func unhex2(h string) byte {
	v := byte(0)
	for i := range 2 {
		c := h[i] | 0x20
		if c <= '9' {
			v = v<<4 | (c - '0')
		} else {
			v = v<<4 | (c - 'a' + 10)
		}
	}
	return v
}

// authParamsRun returns the length of the list of parameters at the
// start of s that an authentication scheme takes (RFC 9110 section
// 11.2: name=token or name="quoted", joined by commas: Digest's
// username="...", response="..."; AWS4-HMAC-SHA256's Credential=...,
// Signature=...), 0 when s starts with none. A value quoted \"...\" (in a
// rendered JSON string) runs to the same again. Only what followed the
// scheme up to the first quote or comma was cleared, a Digest response
// and a signature stored as sent (TestForeignAuthParamListsRedacted).
func authParamsRun(s string) int {
	n, end := 0, 0
	for {
		k := run(s[n:], func(c byte) bool { return pairNameByte(c) && c != '%' })
		if k == 0 || n+k >= len(s) || s[n+k] != '=' {
			return end
		}
		n += k + 1
		q := ""
		for _, p := range [...]string{`\"`, `"`} {
			if strings.HasPrefix(s[n:], p) {
				q = p
				break
			}
		}
		if q != "" {
			e := strings.Index(s[n+len(q):], q)
			if e < 0 {
				return len(s)
			}
			n += 2*len(q) + e
		} else {
			// ';' too: AWS4-HMAC-SHA256's SignedHeaders=host;x-amz-date
			n += run(s[n:], func(c byte) bool { return valueByte(c) || c == ';' })
		}
		end = n
		for n < len(s) && (s[n] == ' ' || s[n] == '\t') {
			n++
		}
		if n == len(s) || s[n] != ',' {
			return end
		}
		n++
		for n < len(s) && (s[n] == ' ' || s[n] == '\t') {
			n++
		}
	}
}

// xmlElementText returns where the text of an XML element whose start
// tag ends at s[gt] starts and ends, and whether it is one to clear: its
// name (after a namespace's prefix: wsse:Password) names a credential
// and its text, not empty, runs to an end tag ("</").
// <password>...</password> and a SOAP call's
// <wsse:Password Type="...">...</wsse:Password> were stored as sent
// (TestForeignXMLElementsRedacted); a generic type's "List<Token> tokens"
// is no element. The tag is looked for back to the '>' before, no
// further, so each byte is read once.
func xmlElementText(s string, done, gt int) (from, to int, ok bool) {
	lt := strings.LastIndexAny(s[done:gt], "<>")
	if lt < 0 || s[done+lt] != '<' || gt > 0 && s[gt-1] == '/' {
		return 0, 0, false
	}
	tag := s[done+lt+1 : gt]
	if i := strings.IndexAny(tag, " \t\r\n"); i >= 0 {
		tag = tag[:i]
	}
	if i := strings.LastIndexByte(tag, ':'); i >= 0 {
		tag = tag[i+1:] // a namespace's prefix
	}
	if tag == "" || run(tag, pairNameByte) != len(tag) || !credentialKey(tag) {
		return 0, 0, false
	}
	end := strings.IndexByte(s[gt+1:], '<')
	if end <= 0 || !strings.HasPrefix(s[gt+1+end:], "</") {
		return 0, 0, false
	}
	return gt + 1, gt + 1 + end, true
}

// encodedMark returns the length of the escape of the character whose
// hex is hex (in lower case) at the start of s, once or twice
// percent-encoded ("%3D", "%253d"), or 0.
func encodedMark(s, hex string) int {
	for _, n := range [...]int{3, 5} {
		if len(s) >= n && s[0] == '%' && strings.EqualFold(s[n-2:n], hex) && (n == 3 || s[1:3] == "25") {
			return n
		}
	}
	return 0
}

// encodedBoundary reports whether text ends in an encoded '=' or '&',
// where a percent-encoded pair's name starts: so no name runs back over
// the pairs before it ("a%3D1%26b%3D2" is a run of a name's bytes).
func encodedBoundary(text string) bool {
	if c := text[len(text)-1] | 0x20; c != 'd' && c != '6' {
		return false
	}
	for _, n := range [...]int{3, 5} {
		if len(text) >= n && (encodedMark(text[len(text)-n:], "3d") == n || encodedMark(text[len(text)-n:], "26") == n) {
			return true
		}
	}
	return false
}

// cookieList reports whether a pair's name is a Cookie header's, whose
// value is a list of cookies ("theme=dark; sid=..."), each one a
// credential: only the first was cleared
// (TestForeignCookieListsAndSpelledPasswordsRedacted). Not Set-Cookie's,
// one cookie followed by its attributes (Path=/; HttpOnly), kept.
func cookieList(name string) bool {
	k := foldName(name)
	return strings.HasSuffix(k, "cookie") && !strings.HasSuffix(k, "set-cookie") && !strings.HasSuffix(k, "set_cookie")
}

// setCookie reports whether a pair's name is a Set-Cookie header's.
func setCookie(name string) bool {
	k := foldName(name)
	return strings.HasSuffix(k, "set-cookie") || strings.HasSuffix(k, "set_cookie")
}

// nextSetCookie returns where the value of the next cookie of a
// Set-Cookie line starts and ends, reading from s[i], after a cookie's
// value: past its attributes ("; Path=/", "; HttpOnly", "; Expires=Wed,
// 21 Oct 2015 07:28:00 GMT", whose comma joins nothing), to a comma
// and a cookie's name and '=' ("a=1; Path=/, session=..."), as a client
// library joins several Set-Cookie headers into one line. Each cookie
// after the first was stored as sent (TestForeignJoinedSetCookiesRedacted).
// ok is false at anything else: the line's end, a space, a quote.
func nextSetCookie(s string, i int) (from, to int, ok bool) {
	for i < len(s) {
		switch s[i] {
		case ';':
			i++
			for i < len(s) && s[i] == ' ' {
				i++
			}
			n := run(s[i:], cookieNameByte)
			if n == 0 {
				return 0, 0, false
			}
			expires := strings.EqualFold(s[i:i+n], "expires")
			i += n
			if i < len(s) && s[i] == '=' {
				i++
				if e := strings.Index(s[i:min(len(s), i+40)], "GMT"); expires && e >= 0 {
					i += e + len("GMT")
				} else {
					i += run(s[i:], valueByte)
				}
			}
		case ',':
			i++
			for i < len(s) && s[i] == ' ' {
				i++
			}
			n := run(s[i:], cookieNameByte)
			if n == 0 || i+n >= len(s) || s[i+n] != '=' {
				return 0, 0, false
			}
			from = i + n + 1
			if k := quoteLen(s[from:]); k > 0 {
				e := strings.Index(s[from+k:], s[from:from+k])
				if e < 0 {
					return from, len(s), true
				}
				return from, from + 2*k + e, true
			}
			return from, from + run(s[from:], valueByte), true
		default:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// cookieNameByte reports whether c may be part of a cookie's or a cookie
// attribute's name (an RFC 9110 token, less the marks logs rarely hold).
func cookieNameByte(c byte) bool {
	return pairNameByte(c) && c < utf8.RuneSelf || c == '!' || c == '#' || c == '$' || c == '*' || c == '+' || c == '^' || c == '`' || c == '|' || c == '~'
}

// cookieRun returns the length of the unquoted list of cookies at the
// start of s: values (valueByte) joined by ';' and "; ".
func cookieRun(s string) int {
	n := 0
	for n < len(s) && (valueByte(s[n]) || s[n] == ';' || s[n] == ' ' && n > 0 && s[n-1] == ';' && n+1 < len(s) && valueByte(s[n+1])) {
		n++
	}
	return n
}

// authScheme reports whether w is an HTTP authentication scheme that
// comes before a credential (RFC 9110 section 11; any case). Only these:
// any word followed by a space would keep the secret of
// "Authorization: s3cr3t (from the CLI)".
func authScheme(w string) bool {
	for _, s := range [...]string{"bearer", "basic", "digest", "negotiate", "ntlm", "dpop", "token", "mac", "hoba", "mutual", "aws4-hmac-sha256", "oauth"} {
		if strings.EqualFold(w, s) {
			return true
		}
	}
	return false
}

// valueByte reports whether c may be part of an unquoted pair's value.
func valueByte(c byte) bool {
	return c > ' ' && !strings.ContainsRune(`"'\&;,)]}<>`, rune(c))
}

// run returns how many bytes at the start of s satisfy ok.
func run(s string, ok func(byte) bool) int {
	n := 0
	for n < len(s) && ok(s[n]) {
		n++
	}
	return n
}

// redactProse returns s with a secret written after a name that names a
// credential (credentialKey) and a space, with no '=' or ':' between,
// replaced by Redacted: "password hunter2", "password is hunter2",
// "token was abc123" were stored as sent
// (TestForeignSecretsInProseRedacted). Prose puts a word right after the
// name far more often than a secret ("password reset requested", "token
// expired"), so that word is cleared only when it reads as no word
// (secretLike: a digit, a mark, a capital letter past the first, or 16
// letters and more), or is quoted ("password 'hunter'"); after an
// authentication scheme ("Authorization Negotiate YIIB...") it is the
// word after the scheme. After a linking verb (linkingVerb: "is", "was"),
// right after the name or further on (proseLink: "password for bob is
// ..."), any word but keptWords is cleared ("password is hunter";
// "password is required" is kept): proseWord. Right after a password's
// name (passwordName: "password hunter") any word but keptWords and
// passwordWords is cleared too.
func redactProse(s string) string {
	tabs := strings.IndexByte(s, '\t') >= 0
	if !tabs && strings.IndexByte(s, ' ') < 0 {
		return s
	}
	var b strings.Builder
	done := 0
	for i := 0; i < len(s); {
		var j int
		if tabs {
			j = strings.IndexAny(s[i:], " \t")
		} else {
			j = strings.IndexByte(s[i:], ' ')
		}
		if j < 0 {
			break
		}
		e := i + j // the name, if any, ends here
		w := e
		for w > i && pairNameByte(s[w-1]) {
			w--
		}
		i = e + 1
		if w == e {
			continue
		}
		name := s[wordsBefore(s, w, e):e]
		if !credentialKey(name) {
			continue
		}
		from, to := proseValue(s, e, name)
		if from == to {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[done:from])
		b.WriteString(Redacted)
		done, i = to, to
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// wordsBefore returns where a name of words spaced apart starts, the
// last word being s[w:e]: French "mot de passe", and "API key",
// "session ID", "private key", whose last word alone names nothing
// (credentialKey reads "API key" as it reads "api.key"); "API key:
// ..." and "session ID is ..." were stored as sent
// (TestForeignSecretsInProseRedacted). Else w.
func wordsBefore(s string, w, e int) int {
	switch {
	case w >= 7 && strings.EqualFold(s[w:e], "passe") && strings.EqualFold(s[w-7:w], "mot de "):
		return w - 7
	case w >= 2 && s[w-1] == ' ' && (strings.EqualFold(s[w:e], "key") || strings.EqualFold(s[w:e], "id") || secondScriptWord(s[w:e])):
		v := w - 1
		for v > 0 && pairNameByte(s[v-1]) {
			v--
		}
		if v < w-1 {
			return v
		}
	}
	return w
}

// secondScriptWord reports whether w is the last word of a password's
// name of two in a script other than Latin whose last word alone names
// nothing (Arabic كلمة المرور, "the word of passing", and كلمة السر, Greek
// κωδικός πρόσβασης): wordsBefore reads the name whole.
func secondScriptWord(w string) bool {
	if w == "" || w[0] < utf8.RuneSelf {
		return false
	}
	for _, v := range [...]string{"المرور", "السر", "πρόσβασης"} {
		if strings.EqualFold(w, v) {
			return true
		}
	}
	return false
}

// proseValue returns where the secret after a credential's name (name,
// which ends at s[i], a space following it) starts and ends, the same
// when there is none (redactProse).
func proseValue(s string, i int, name string) (from, to int) {
	i = proseSpaces(s, i)
	if n := run(s[i:], pairNameByte); n > 0 && i+n < len(s) && s[i+n] == ' ' && linkingVerb(s[i:i+n]) {
		return proseWord(s, proseSpaces(s, i+n), verbMode(s[i:i+n]))
	}
	// "session ID is ...": the name goes on (wordsBefore).
	if n := run(s[i:], pairNameByte); (i+n == len(s) || s[i+n] == ' ') && (strings.EqualFold(s[i:i+n], "id") || strings.EqualFold(s[i:i+n], "key")) {
		return i, i
	}
	mode := afterName
	if passwordName(name) {
		mode = afterPassword
		if name[0] >= utf8.RuneSelf {
			mode = afterScriptPassword
		}
	}
	if from, to = proseWord(s, i, mode); from < to {
		return from, to
	}
	if j, m := proseLink(s, i); j > i {
		return proseWord(s, j, m)
	}
	return i, i
}

// proseMode is what stands before the word proseWord reads: a
// credential's name, a password's name (in Latin letters or another
// script) or a linking verb (likewise).
type proseMode uint8

const (
	afterName proseMode = iota
	afterPassword
	afterScriptPassword
	afterVerb
	afterScriptVerb
)

// verbMode returns the mode of the word after the linking verb v:
// afterScriptVerb when v is written in a script other than Latin.
func verbMode(v string) proseMode {
	if v != "" && v[0] >= utf8.RuneSelf {
		return afterScriptVerb
	}
	return afterVerb
}

// proseSpaces returns where the spaces and tabs at s[i] end.
func proseSpaces(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// proseWord returns where the secret in the word at s[i] starts and
// ends, the same when there is none. What stands before it (mode)
// decides: after a linking verb ("password is hunter") the word is a
// secret unless it is one of keptWords ("password is required") or holds
// no letter or digit; after a linking verb of a script other than Latin
// ("пароль это ...") it must hold an ASCII letter or digit, a word of
// that script there being prose ("пароль это неверный"). Right after a
// password's name ("password hunter") it is one unless it is one of
// keptWords, passwordWords ("password reset", "password policy"),
// gapWords ("password for bob is ...": proseLink reads on) or a linking
// verb, or a count; after such a name in another script it must hold an ASCII letter
// or digit too ("пароль hunter", not "пароль неверный"). Right after
// another credential's name it is one only when it reads as no word
// (secretLike: "token abc123", not "token expired") and is not a count
// ("token 3 of 5"). A quoted one is a secret, unless it is one of
// keptWords ("password 'reset'", a button's name).
func proseWord(s string, i int, mode proseMode) (from, to int) {
	if i == len(s) || strings.HasPrefix(s[i:], Redacted) || strings.IndexByte("([{", s[i]) >= 0 {
		return i, i // "password (hidden)" is prose
	}
	if k := quoteLen(s[i:]); k > 0 {
		// Looked for in the next proseQuoted bytes only, so a text of
		// names and quotes that do not close is read in linear time.
		end := strings.Index(s[i+k:min(len(s), i+k+proseQuoted)], s[i:i+k])
		if end <= 0 || keptWord(s[i+k:i+k+end]) {
			return i, i
		}
		return i + k, i + k + end
	}
	// A pair of its own ("Password Type=...", "token user=bob") is
	// redactPairs' to read; base64's padding ("abc==") is none.
	if k := i + run(s[i:], pairNameByte); k > i && k+1 < len(s) && (s[k] == '=' || s[k] == ':') && s[k+1] > ' ' && s[k+1] != '=' {
		return i, i
	}
	n := valueRun(s[i:])
	if authScheme(s[i:i+n]) && i+n+1 < len(s) && s[i+n] == ' ' && !strings.HasPrefix(s[i+n+1:], Redacted) {
		i += n + 1 // "Authorization Negotiate YII...": the credential after the scheme
		n = valueRun(s[i:])
	}
	for n > 0 && strings.IndexByte(".!?:", s[i+n-1]) >= 0 {
		n--
	}
	w := s[i : i+n]
	switch mode {
	case afterVerb, afterScriptVerb:
		if keptWord(w) || !wordLetters(w, mode == afterScriptVerb) {
			return i, i
		}
	case afterPassword, afterScriptPassword:
		if keptWord(w) || passwordWord(w) || gapWord(w) || linkingVerb(w) || count(w, s[i+n:]) || !wordLetters(w, mode == afterScriptPassword) {
			return i, i
		}
	default:
		if !secretLike(w) || count(w, s[i+n:]) {
			return i, i
		}
	}
	return i, i + n
}

// wordLetters reports whether w holds a letter or a digit, in ASCII
// when ascii is set, else in any script.
func wordLetters(w string, ascii bool) bool {
	if ascii {
		return asciiAlnum(w)
	}
	for _, r := range w {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}

// count reports whether w, a word after a credential's name, is a count
// of the form "N of M" ("token 3 of 5", "password 2 of 3"), rest being
// what follows w.
func count(w, rest string) bool {
	if run(w, func(c byte) bool { return '0' <= c && c <= '9' }) != len(w) || !strings.HasPrefix(rest, " of ") {
		return false
	}
	rest = rest[len(" of "):]
	return rest != "" && '0' <= rest[0] && rest[0] <= '9'
}

// asciiAlnum reports whether w holds an ASCII letter or digit.
func asciiAlnum(w string) bool {
	for i := 0; i < len(w); i++ {
		if c := w[i] | 0x20; 'a' <= c && c <= 'z' || '0' <= w[i] && w[i] <= '9' {
			return true
		}
	}
	return false
}

// proseGap is how many words proseLink reads past a credential's name.
const proseGap = 4

// proseLink returns where the word after a linking verb or a word ending
// in ':' starts, and its mode (verbMode), when one stands within proseGap
// words after a credential's name (the first at s[i]) and one of gapWords
// stands between: "password for alice is hunter2", "the password you
// asked for: hunter2", "token value is abc" were stored as sent
// (TestForeignSecretsFurtherInProseRedacted). Else i: "session timeout
// is 30m" and "password reset: sent" name another thing, kept. A
// relative clause's verb (one of relativeWords before it) followed by a
// kept word is the clause's, not the sentence's: the reading goes on for
// proseGap words more ("the token that was issued is abc", stored as
// sent: TestForeignSecretsPastRelativeClauseRedacted).
func proseLink(s string, i int) (int, proseMode) {
	j, gap, rel, words := i, false, false, proseGap
	for k := 0; k < words; k++ {
		n := run(s[j:], pairNameByte)
		if n == 0 || j+n+1 >= len(s) {
			return i, afterVerb
		}
		w := s[j : j+n]
		switch s[j+n] {
		case ' ', '\t':
			if linkingVerb(w) {
				if !gap {
					return i, afterVerb
				}
				v := proseSpaces(s, j+n)
				if from, to := proseWord(s, v, verbMode(w)); !rel || words > proseGap || from < to {
					return v, verbMode(w)
				}
				words += proseGap // "that was issued": the clause's verb
			}
		case ':':
			if (gap || gapWord(w)) && (s[j+n+1] == ' ' || s[j+n+1] == '\t') {
				return proseSpaces(s, j+n+1), afterVerb
			}
			return i, afterVerb
		default:
			return i, afterVerb
		}
		gap = gap || gapWord(w)
		rel = rel || lowerIn(w, relativeWords)
		j = proseSpaces(s, j+n)
	}
	return i, afterVerb
}

// relativeWords open a relative clause between a credential's name and
// the sentence's linking verb ("the token that was issued is ...", "the
// password you were given is ..."): proseLink reads past the clause's.
var relativeWords = map[string]bool{
	"that": true, "which": true, "who": true, "whom": true, "you": true, "we": true, "they": true, "i": true, "he": true, "she": true,
}

// gapWords are the words that, between a credential's name and a
// linking verb or a ':', make what follows the name's value
// (proseLink): prepositions, pronouns and determiners ("password for
// bob is", "the password you asked for:", "password of the day:"), and
// words that name the secret itself ("token value is").
var gapWords = map[string]bool{
	"for": true, "of": true, "to": true, "from": true, "you": true, "we": true, "they": true, "i": true, "he": true, "she": true,
	"it": true, "that": true, "which": true, "the": true, "a": true, "an": true, "this": true, "your": true, "my": true,
	"our": true, "his": true, "her": true, "their": true, "its": true, "user": true, "account": true, "value": true,
	"string": true, "itself": true, "now": true, "here": true, "today": true, "then": true, "just": true,
	"für": true, "von": true, "de": true, "pour": true, "para": true, "del": true, "du": true,
}

// gapWord reports whether w, in any case, is one of gapWords.
func gapWord(w string) bool { return lowerIn(w, gapWords) }

// keptWords are the words after a credential's name and a linking verb
// (or a quoted one) that are prose, not a secret: a status or an
// adjective ("password is required", "token is expired", "password is
// too short", "password is reset"), an article, a negation or an adverb
// ("password is not set", "token is a JWT"), in English and, a few, in
// German, French and Spanish. Any other word there is cleared
// (proseWord): a lost harmless word is cheaper than a leaked password.
var keptWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		required needed mandatory optional incorrect correct invalid valid wrong right expired expiring
		missing empty blank null nil none set unset reset changed updated rotated revoked accepted rejected denied
		disabled enabled locked unlocked active inactive stale weak strong short long too not no now still
		also only already being been a an the same different new old current ok okay good bad fine hidden masked
		redacted hashed encrypted stored saved sent used unused generated verified unverified present absent
		available unavailable compromised leaked insecure secure known unknown sensitive case-sensitive
		mismatched blocked closed open pending done complete incomplete successful unsuccessful failed
		created deleted removed issued refreshed renewed cleared ignored validated checked provided supplied
		given entered applied ready out safe never always usually probably likely very just
		here there in on at for of to from by with without under over about into your my his her their our
		its this that these those what which whose where when how why
		falsch ungültig abgelaufen erforderlich leer nicht zu gesetzt geändert
		incorrect invalide requis expiré vide trop pas obligatoire
		incorrecta incorrecto inválida inválido requerida requerido vacía vacío caducada demasiado
		obligatoria obligatorio`) {
		m[w] = true
	}
	return m
}()

// keptWord reports whether w, in any case, is one of keptWords.
func keptWord(w string) bool { return lowerIn(w, keptWords) }

// passwordWords are the words right after a password's name, with no
// linking verb, that are prose, not the password (proseWord): a thing of
// the password's ("password policy", "password hash", "password
// manager", "password authentication failed"), a modal, an auxiliary or a
// conjunction ("password must be...", "password does not match",
// "password and username..."), and a few in German, French and Spanish
// ("Passwort vergessen", "mot de passe oublié"). A plural is read as its
// singular ("password attempts"). Any other word there is cleared:
// "password hunter" was stored as sent
// (TestForeignPasswordWordAndPassphraseRedacted).
var passwordWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		reset change update policy manager hash hashing salt strength length complexity requirement rule
		history age expiry expiration expire expires lifetime reuse rotation recovery reminder hint store vault
		file database db list generator field form input box dialog prompt page screen link email mail request
		attempt failure error check validation verification confirmation confirm mismatch match matches
		protection lock lockout login logon auth authentication based grant flow type mode setting option
		config configuration entry text value spray spraying guessing cracking attack leak dump
		must should can cannot can't could will would may might shall does doesn't do don't did didn't
		has hasn't have had need needs and or but nor so then as if because please again twice
		isn't wasn't aren't won't contains contain typed protected management encryption encoder encoding
		storage credential provider service sync synced via using after before since until while during
		successfully correctly incorrectly automatically manually securely
		vergessen ändern zurücksetzen oublié oubliée perdu olvidada olvidado`) {
		m[w] = true
	}
	return m
}()

// passwordWord reports whether w, in any case, or w without a plural's
// "s", is one of passwordWords.
func passwordWord(w string) bool {
	return lowerIn(w, passwordWords) || len(w) > 3 && (w[len(w)-1] == 's' || w[len(w)-1] == 'S') && lowerIn(w[:len(w)-1], passwordWords)
}

// passwordNames are, folded and without marks, the names of a password
// whose word after it (proseWord) and whose pair's several words
// (phraseEnd) are its value: a name ending in one of them names a
// password ("password", "db.password", "new_password", "Passwort",
// "mot de passe", "пароль"). Not "pwd", a shell's working directory, nor
// "pin", a short code with no spaces.
var passwordNames = [...]string{"password", "passwd", "passphrase", "passcode", "passwort", "kennwort", "motdepasse", "contrasena",
	"wachtwoord", "losenord", "passord", "adgangskode", "salasana", "mdp", "clave", "senha", "sifre"}

// scriptPasswordNames are the names of a password in a script other than
// Latin (scriptPasswords) without their spaces, read only for a name
// outside ASCII (passwordName).
var scriptPasswordNames = func() []string {
	var names []string
	for _, n := range scriptPasswords {
		names = append(names, nameMarks.Replace(n))
	}
	return names
}()

// passwordName reports whether name, a credential's (credentialKey),
// names a password: read as foldName reads it, without the marks its
// words are spelt apart with, it ends in one of passwordNames (or, outside
// ASCII, scriptPasswordNames). An ASCII name is read without allocating
// (its last 64 bytes).
func passwordName(name string) bool {
	var buf [64]byte
	k, script := buf[:0], false
	if isASCII(name) && !strings.ContainsAny(name, "%&") {
		for i := max(0, len(name)-len(buf)); i < len(name); i++ {
			switch c := name[i]; {
			case c == '_' || c == '-' || c == '.' || c == ' ':
			case 'A' <= c && c <= 'Z':
				k = append(k, c+'a'-'A')
			default:
				k = append(k, c)
			}
		}
	} else {
		k = append(k, nameMarks.Replace(foldName(name))...)
		script = !isASCII(string(k))
	}
	for _, w := range passwordNames {
		if len(k) >= len(w) && string(k[len(k)-len(w):]) == w {
			return true
		}
	}
	for _, w := range scriptPasswordNames {
		if script && len(k) >= len(w) && string(k[len(k)-len(w):]) == w {
			return true
		}
	}
	return false
}

// lowerIn reports whether w, its ASCII letters lowered, is in m, with no
// allocation.
func lowerIn(w string, m map[string]bool) bool {
	var buf [24]byte
	if len(w) > len(buf) {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return m[string(buf[:len(w)])]
}

// proseQuoted is the longest quoted secret proseValue clears.
const proseQuoted = 256

// linkingVerb reports whether w joins a name to what it is in prose
// ("password is ...", "token was ..."; German ist, war; French est;
// Spanish es, era; Russian это, Greek είναι, Arabic هي, Hebrew היא and
// הוא, Thai คือ).
func linkingVerb(w string) bool {
	switch {
	case w == "":
		return false
	case w[0] < utf8.RuneSelf:
		if len(w) > 4 {
			return false
		}
		for _, v := range [...]string{"is", "was", "are", "were", "ist", "war", "est", "es", "era"} {
			if strings.EqualFold(w, v) {
				return true
			}
		}
	default:
		for _, v := range [...]string{"это", "είναι", "هي", "היא", "הוא", "คือ"} {
			if strings.EqualFold(w, v) {
				return true
			}
		}
	}
	return false
}

// secretLike reports whether w, the word after a credential's name in
// prose, reads as a secret rather than a word: it holds an ASCII letter
// or digit, and a digit, a mark other than a hyphen or an apostrophe
// between letters (hunter2, p@ss, a path, a \u escape), a capital letter
// past the first (aBc), or it runs to 16 bytes or more (a random token of
// letters alone). Marks alone ("=", "--") are none.
func secretLike(w string) bool {
	alnum, odd := false, len(w) >= 16
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case 'a' <= c && c <= 'z':
			alnum = true
		case 'A' <= c && c <= 'Z':
			alnum, odd = true, odd || i > 0
		case '0' <= c && c <= '9':
			alnum, odd = true, true
		case c >= utf8.RuneSelf, (c == '-' || c == '\'') && i > 0 && i+1 < len(w):
		default:
			odd = true
		}
	}
	return alnum && odd
}

// redactParticles returns s with a secret written right after a
// password's name in a script other than Latin (scriptPasswords) and a
// particle or a linking verb of that script that joins it to its value
// (scriptParticles: Chinese 是, 为, 為; Japanese は, が; Korean 는, 은, 이,
// 가; Thai คือ, เป็น), then maybe spaces, or with neither particle nor
// space, replaced by Redacted: "密码是hunter2", "パスワードはhunter2です"
// were stored as sent (TestForeignNamesInOtherScriptsRedacted), and so
// were "비밀번호는hunter2입니다", "비밀번호는 hunter", "รหัสผ่านคือhunter2",
// "비밀번호hunter2", "парольhunter2"
// (TestForeignSecretsAttachedToScriptNamesRedacted). The value is the run
// of ASCII that follows (valueRun's bytes), unless it is one of keptWords
// ("パスワードはOKです") or holds no ASCII letter or digit: a word of these
// scripts there is prose ("密码是必填的", the password is required; "비밀번호가
// 틀렸습니다", the password is wrong). A name and a space with no particle
// is redactProse's ("пароль hunter").
func redactParticles(s string) string {
	if isASCII(s) {
		return s
	}
	var b strings.Builder
	done := 0
	for t := 1; t < len(s); t++ {
		if s[t] >= utf8.RuneSelf || s[t-1] < utf8.RuneSelf {
			continue
		}
		from, to, ok := scriptValue(s, max(done, t-scriptWindow), t)
		if !ok {
			continue
		}
		b.WriteString(s[done:from])
		b.WriteString(Redacted)
		done, t = to, to
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// scriptWindow is how many bytes before a run of ASCII scriptValue reads
// for a password's name and a particle: the longest of them, folded, is
// some 40 bytes.
const scriptWindow = 64

// scriptValue returns where the secret that starts the run of ASCII at
// s[t], after characters outside ASCII, starts and ends, and whether
// there is one (redactParticles): the text from s[start] to s[t], its
// ideographic spaces left out, ends in a password's name in a script
// other than Latin and a particle, or in the name alone with no space
// after it.
func scriptValue(s string, start, t int) (from, to int, ok bool) {
	for start < t && (s[start] < utf8.RuneSelf && s[start] != ' ' || s[start]&0xc0 == 0x80) {
		start++ // the window starts at a character outside ASCII, or a space
	}
	before := s[start:t]
	for strings.HasSuffix(before, "　") {
		before = before[:len(before)-len("　")]
	}
	from = proseSpaces(s, t)
	spaced := from > t || len(before) < t-start
	if from == len(s) || !(valueByte(s[from]) && (s[from] != '[' || !strings.HasPrefix(s[from:], Redacted))) {
		return 0, 0, false
	}
	k := foldName(strings.TrimLeft(before, " "))
	particle := false
	for _, p := range scriptParticles {
		if strings.HasSuffix(k, p) && scriptPasswordBefore(k[:len(k)-len(p)]) {
			particle = true
			break
		}
	}
	// With no particle the value starts with a letter or a digit: a
	// pair's separator ("비밀번호:x", redactPairs') is none.
	if !particle && (spaced || !scriptPasswordBefore(k) || !asciiAlnum(s[from:from+1])) || s[from] == ':' || s[from] == '=' {
		return 0, 0, false
	}
	to = from
	for to < len(s) && s[to] < utf8.RuneSelf && valueByte(s[to]) {
		to++
	}
	for to > from && strings.IndexByte(".!?:", s[to-1]) >= 0 {
		to--
	}
	if w := s[from:to]; w == "" || keptWord(w) || !asciiAlnum(w) {
		return 0, 0, false
	}
	return from, to, true
}

// scriptParticles are, folded as foldName folds them, the particles and
// linking verbs that join a password's name in a script other than
// Latin to its value with no space (redactParticles).
var scriptParticles, _ = foldedNames("是", "为", "為", "は", "が", "는", "은", "이", "가", "คือ", "เป็น")

// scriptPasswordBefore reports whether k, a folded text, ends in one of
// scriptPasswords.
func scriptPasswordBefore(k string) bool {
	for _, n := range scriptPasswords {
		if strings.HasSuffix(k, n) {
			return true
		}
	}
	return false
}
