package collector

// The free-text rules of redaction: a credential's value after its name
// in a text (redactPairs: NAME=VALUE, NAME: VALUE, quoted, encoded, in
// cookie lists, XML elements and authentication parameter lists) and
// after its name in prose (redactProse, redact_prose.go; another
// script's, redact_script.go). redact.go holds what names a
// credential (credentialKey, foldName) and the attributes' rules.

import (
	"strings"
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
		pass := passName(name)
		if name == "" || !pass && !credentialKey(name) {
			continue
		}
		from, to, plain := pairValue(s, i, cookieList(name) && !encoded, encoded)
		if from == to || pass && !passValue(s[from:to]) {
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
	// "unseal key 3: ...": a number of one or two digits after a
	// credential's name is its index, the pair the name's.
	if k := e - n; n > 1 && k <= 2 && text[n-1] == ' ' && pinNumber(text[n:e]) {
		if name := pairName(text[:n-1]); credentialKey(name) {
			return name
		}
	}
	// A rendered JSON string writes '&', '<' and '>' as \u0026, \u003c,
	// \u003e: "a=1\u0026sid=..." names sid, not u0026sid.
	if n > 0 && text[n-1] == '\\' && e-n > 5 && text[n] == 'u' && hex4(text[n+1:n+5]) {
		n += 5
	}
	return text[n:e]
}

// passName reports whether name is "pass" alone, in any case: a
// password's name when what follows reads as one (passValue: "pass:
// Hunter22" was stored as sent, TestRedactMissedSecretEdges), not as a
// count or a flag ("tests pass: 12", "pass=1", "pass: true"). It is
// read in pairs only: in prose "pass" is a verb and a noun ("pass 2").
func passName(name string) bool { return strings.EqualFold(name, "pass") }

// passValue reports whether v, the value after "pass" and a separator,
// reads as a password: six bytes or more, an ASCII letter among them,
// and no word (secretLike).
func passValue(v string) bool {
	return len(v) >= 6 && secretLike(v) && run(v, func(c byte) bool { return c|0x20 < 'a' || c|0x20 > 'z' }) < len(v)
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
	first := to
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
	if k == len(s) || !phraseLine(s[k:], k-(j+1) > lineIndent(s, sep), to > first) || !phraseWord(s, k) {
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
// plain scalar goes on, or after a line of several of the passphrase's
// words (several), with any letter or digit ("password: correct
// horse\nBattery staple", whose second line was stored as sent:
// TestForeignPassphraseCapitalLineRedacted); and it is no stack frame
// ("at com.example..."), no list's item and no sentence (sentenceStart:
// "password: x1\nThe job finished" keeps its second line). After one
// word at the same indent, a line starting with a capital or a digit is
// another ("password: x1\nConnection refused"), and after several, one
// starting with a word in capitals ("ERROR", "GET"), a time
// ("2026-01-02", "12:00": timeStart) or holding a log's verb or word
// (logLine: "Connection refused", "Retrying in 5s") is a log's next line.
func phraseLine(line string, deeper, several bool) bool {
	c := line[0]
	switch {
	case 'a' <= c && c <= 'z':
	case deeper && (c >= utf8.RuneSelf || 'a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9'):
	case several && ('A' <= c && c <= 'Z' || '0' <= c && c <= '9'):
		if capsWord(line) || timeStart(line) || logLine(line) {
			return false
		}
	default:
		return false
	}
	return !strings.HasPrefix(line, "at ") && !sentenceStart(line)
}

// logLine reports whether line, up to its end, reads as a log's line,
// not a passphrase's: it holds a pair ('=' or ": "), a linking verb or
// one of logWords (a level's word, a log's verb in its forms, a log's
// word alone: "Connection refused", "Starting server", "Goodbye"), or a
// preposition (logPrepositions) or one of gapWords with a digit
// ("Timeout after 30s", "Sent to 10.0.0.2"), or it starts with a log's
// subject (logSubject: "Disk parked", "Worker froze", "Disk spun
// down"). Such a line after a passphrase of several words was cleared
// with it (TestHarmlessWordTextsKept, TestRedactWordEdges). A word that
// only ends as a verb's form does or an irregular verb's past form after
// another word ("Kettle boxed", "Kettle went"), or a preposition with no
// digit ("Lemur in kettle"), is a passphrase's, and the line was stored
// as sent (TestForeignPassphraseVerbLineRedacted,
// TestForeignPassphraseLogWordLineRedacted, TestRedactWordEdges: "Kettle
// went" was, an irregular past form having made any line a log's); the
// cost is a log's line whose subject is not one of logSubjects and
// whose verb is not one of logWords ("password: red fox\nKettle
// whistled" loses its second line).
func logLine(line string) bool {
	if nl := strings.IndexByte(line, '\n'); nl >= 0 {
		line = line[:nl]
	}
	if strings.IndexByte(line, '=') >= 0 || strings.Contains(line, ": ") {
		return true
	}
	if logSubject(line) {
		return true
	}
	letter := func(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
	prep := false
	for i := 0; i < len(line); {
		n := run(line[i:], letter)
		if n == 0 {
			i++
			continue
		}
		w := line[i : i+n]
		if linkingVerb(w) || lowerIn(w, logWords) {
			return true
		}
		prep = prep || gapWord(w) || lowerIn(w, logPrepositions)
		i += n
	}
	return prep && strings.ContainsAny(line, "0123456789")
}

// logSubject reports whether line starts with one of logSubjects, a
// space and a verb's form (verbForm): a log's subject and what it did
// ("Disk parked", "Worker stalling", "Worker froze"). After another word
// such a form is a passphrase's ("Kettle boxed", "Kettle went").
func logSubject(line string) bool {
	n := run(line, func(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' })
	if n == 0 || n == len(line) || line[n] != ' ' || !lowerIn(line[:n], logSubjects) {
		return false
	}
	m := run(line[n+1:], func(c byte) bool { return 'a' <= c && c <= 'z' })
	return m > 0 && verbForm(line[n+1:n+1+m])
}

// verbForm reports whether w, in lower case, is a verb's past form or
// participle: one of irregularPast, or a word ending in "-ed" or "-ing"
// past two letters.
func verbForm(w string) bool {
	return lowerIn(w, irregularPast) || len(w) > 4 && strings.HasSuffix(w, "ed") || len(w) > 5 && strings.HasSuffix(w, "ing")
}

// logSubjects are the things a log's line names first, before what they
// did (logSubject): a machine's, a program's and a network's parts.
var logSubjects = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		disk disks drive volume partition mount node nodes host server worker workers pod container job task
		service process thread daemon agent link interface port connection socket client request queue cache
		database db replica shard cluster leader follower backup upload download build deploy deployment
		cron timer watchdog network route certificate cert lease lock file device controller sensor fan
		pipeline runner scheduler listener proxy sidecar collector batch snapshot migration transaction
		instance vm machine kernel system cpu memory raid array pump`) {
		m[w] = true
	}
	return m
}()

// logWords are the words that make a line after a passphrase a log's
// (logLine): a level's name, a log's common verbs in their forms, and a
// log's words that stand alone on a line or end it ("Link down", "Node
// up"). An irregular verb's past form (irregularPast) makes one only
// after a log's subject (logSubject: "Worker froze"): "password: red
// fox\nKettle went" kept its second line (TestRedactWordEdges).
var logWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		error warn warning info debug trace fatal panic notice critical
		starting started stopping stopped loading loaded listening connecting connected disconnected retrying
		shutting received failed finished reached accepted created closing closed opening opened waiting
		running restarting reloading reloaded initializing initialized exiting exited sending sent done ready
		refused reset timed timeout completed complete aborted terminated killed denied rejected established
		lost dropped skipped saved updated deleted removed added registered mounted unmounted enabled disabled
		expired logged succeeded processed processing scheduled queued cancelled canceled interrupted
		throttled exceeded applied synced restored migrated deployed booted booting rebooting found missing
		shutdown goodbye bye ok okay
		down up offline online unreachable`) {
		m[w] = true
	}
	return m
}()

// irregularPast are the irregular past forms and participles of English
// verbs, which no ending marks: a log's subject's verb (logSubject:
// "Disk spun down", "Worker froze", cleared with the passphrase before:
// TestHarmlessWordTextsKept), and a thing's state after a key's or a
// token's name (tokenWord: "private key broken", whose word the key's
// rule cleared: TestRedactKeyWordEdges).
var irregularPast = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		spun ran went came began begun broke broken fell fallen froze frozen got gotten gone hung held
		kept left rose shut stuck stood took taken threw thrown woke woken wrote written became brought
		built caught chose chosen drew drawn drove driven gave given grew grown hid hidden knew known
		led lay meant overran overwritten paid quit rebuilt rewrote rewritten rang said saw seen sold
		shook shone shot shown shrank sank slid split spoke spoken spread stole stolen struck swept swung
		taught tore torn told thought understood withdrew wound`) {
		m[w] = true
	}
	return m
}()

// logPrepositions are the prepositions that, with a digit, make a line
// after a passphrase a log's (logLine: "Retrying in 5s"); alone they may
// be a passphrase's words ("Lemur in kettle").
var logPrepositions = map[string]bool{"in": true, "on": true, "at": true, "by": true, "with": true, "after": true, "into": true, "within": true, "via": true}

// capsWord reports whether line starts with a word of two capital
// letters or more and no lower-case one ("ERROR", "GET", "WARN:").
func capsWord(line string) bool {
	n := run(line, func(c byte) bool { return 'A' <= c && c <= 'Z' })
	return n >= 2 && (n == len(line) || !('a' <= line[n] && line[n] <= 'z'))
}

// timeStart reports whether line starts with digits and one of '-', ':',
// '/' or '.' and a digit, as a date or a time does.
func timeStart(line string) bool {
	n := run(line, func(c byte) bool { return '0' <= c && c <= '9' })
	return n > 0 && n+1 < len(line) && strings.IndexByte("-:/.", line[n]) >= 0 && '0' <= line[n+1] && line[n+1] <= '9'
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
