package collector

// A credential's value after its name in prose, with no '=' or ':'
// (redactProse: "password is hunter2", "password hunter", "the token
// that was issued is abc"), and the word lists it reads by.

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

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
		start := wordsBefore(s, w, e)
		name := s[start:e]
		var from, to int
		switch {
		case credentialKey(name):
			from, to = proseValue(s, e, start, name)
		case tokensWord(name):
			// "tokens hunter": "tokens" alone names no credential as a
			// key ("max_tokens=256", "input_tokens" are counts), but a
			// word right after it in prose is read as after an API
			// key's name, a number being a count.
			from, to = proseWord(s, proseSpaces(s, e), afterTokens)
		case authWord(name):
			// "auth hunter", a Redis AUTH: "auth" alone names no
			// credential as a key ("auth_time", "auth: bob" are kept),
			// but a lower-case word right after it in prose is read as
			// after an API key's name.
			from, to = proseWord(s, proseSpaces(s, e), afterKey)
		default:
			continue
		}
		if from == to {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[done:from])
		b.WriteString(Redacted)
		done, i = to, to
		if credentialKey(s[from:to]) {
			// The word cleared names a credential itself: it is read
			// as a name too, so that the word after it is judged
			// ("DBPassword password hunter2" kept hunter2).
			i = from
		}
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
	case w >= 2 && s[w-1] == ' ' && (nameSecondWord(s[w:e]) || secondScriptWord(s[w:e])):
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

// nameSecondWord reports whether w, in any case, is "key", "keys", "id",
// "code" or "seed": the last word of a name of two ("API key", "api keys",
// "session ID", "pin code", "OTP code", "TOTP seed") that wordsBefore
// reads whole.
// "pin code 1234" was stored as sent, "code" kept as a thing of a PIN's
// (TestRedactKeyWordEdges); "error code 42" names no credential.
func nameSecondWord(w string) bool {
	switch len(w) {
	case 2:
		return strings.EqualFold(w, "id")
	case 3:
		return strings.EqualFold(w, "key")
	case 4:
		return strings.EqualFold(w, "keys") || strings.EqualFold(w, "code") || strings.EqualFold(w, "seed")
	}
	return false
}

// authWord reports whether name is the word "auth" alone, in any case
// (redactProse).
func authWord(name string) bool { return strings.EqualFold(name, "auth") }

// tokensWord reports whether name is the word "tokens" alone, in any
// case (redactProse): "tokens hunter" was stored as sent
// (TestForeignKeyNameWordsRedacted).
func tokensWord(name string) bool { return strings.EqualFold(name, "tokens") }

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
// which starts at s[start] and ends at s[i], a space following it) starts
// and ends, the same when there is none (redactProse).
func proseValue(s string, i, start int, name string) (from, to int) {
	i = proseSpaces(s, i)
	v := dashBefore(s, i) // "Пароль — это ...": the dash goes before the verb
	if n := run(s[v:], pairNameByte); n > 0 && v+n+1 < len(s) && linkingVerb(s[v:v+n]) {
		switch {
		case s[v+n] == ' ':
			return proseWord(s, proseSpaces(s, v+n), verbMode(s[v:v+n]))
		case s[v+n] == ':' && (s[v+n+1] == ' ' || s[v+n+1] == '\t'):
			return proseWord(s, proseSpaces(s, v+n+1), afterSeparator) // "password is: none"
		}
	}
	// "session ID is ...": the name goes on (wordsBefore).
	if n := run(s[i:], pairNameByte); (i+n == len(s) || s[i+n] == ' ') && nameSecondWord(s[i:i+n]) {
		return i, i
	}
	mode := nameMode(s[:start], name)
	if from, to = proseWord(s, i, mode); from < to {
		return from, to
	}
	if j := setTo(s, i, start); j > i {
		return proseWord(s, j, mode)
	}
	if j, m := proseLink(s, i); j > i {
		return proseWord(s, j, m)
	}
	return i, i
}

// setTo returns where the word after "to" at s[i] starts when a verb
// that sets a credential (settingWords) stands within three words before
// its name, which starts at s[start]: that word is the new value, read
// as the word right after the name is ("set the password to hunter2",
// "I changed my password to autumn", "changed the PIN to 4821" were
// stored as sent: TestRedactTextEdges). Else i: "password to unlock the
// vault" is prose. The cost is a word that only says what the value is
// to be ("set the password to something stronger" loses "something").
func setTo(s string, i, start int) int {
	if len(s)-i < 4 || !strings.EqualFold(s[i:i+3], "to ") {
		return i
	}
	j := start
	for range 3 {
		for j > 0 && (s[j-1] == ' ' || s[j-1] == '\t') {
			j--
		}
		e := j
		for j > 0 && s[j-1] != ' ' && s[j-1] != '\t' {
			j--
		}
		if j == e {
			return i
		}
		if lowerIn(s[j:e], settingWords) {
			return proseSpaces(s, i+3)
		}
	}
	return i
}

// settingWords are the verbs that give a credential a new value, in
// their forms (setTo).
var settingWords = map[string]bool{
	"set": true, "sets": true, "setting": true, "change": true, "changed": true, "changes": true, "changing": true,
	"reset": true, "resets": true, "resetting": true, "update": true, "updated": true, "updates": true, "updating": true,
}

// nameMode returns the mode of the word right after the credential's
// name name, before being the text before it: a password's, a token's, a
// session's or a key's (keyName) rule, or for a plural of one of these
// names ("passwords hunter", "secrets hunter": TestForeignOtherNameWordsRedacted)
// the key's, whose kept words hold a verb's forms ("passwords stored",
// the password's own rule clearing any word but its list). An Oracle
// database's SID (oracleSID: "Oracle SID orcl", "SID orcl", its system
// identifier, which the key's rule cleared) is read by the rule of any
// credential's name.
func nameMode(before, name string) proseMode {
	switch {
	case passwordName(name):
		if name[0] >= utf8.RuneSelf {
			return afterScriptPassword
		}
		return afterPassword
	case tokenName(name):
		return afterToken
	case sessionName(name):
		return afterSession
	case pinName(name):
		if pinVerb(before, name) {
			return afterPinVerb
		}
		return afterPin
	case keyName(name):
		if oracleSID(before, name) {
			return afterName
		}
		return afterKey
	}
	if n := len(name); n > 4 && (name[n-1] == 's' || name[n-1] == 'S') && pluralName(name[:n-1]) {
		return afterKey
	}
	return afterName
}

// pinName reports whether name, a credential's (credentialKey), ends
// in "pin" as a whole word, in any case ("pin", "PIN", "card.pin"), whose
// word after it proseWord reads as a key's is read (afterPin), a number
// of one to three digits kept (pinNumber).
func pinName(name string) bool {
	n := len(name)
	return n >= 3 && strings.EqualFold(name[n-3:], "pin") && (n == 3 || strings.IndexByte("_-. ", name[n-4]) >= 0)
}

// pinVerb reports whether name, the word "pin" alone, is a verb: the
// word before it (before ending in a space) is one of pinVerbWords ("we
// should pin numpy", "to pin openssl", whose word after it the key's
// rule cleared: TestRedactKeyWordEdges). The word after such a "pin" is
// read by the rule of any credential's name, which clears only a word
// that reads as no word (afterPinVerb: "you can pin hunter2" is
// cleared; so is "we should pin numpy==1.24").
func pinVerb(before, name string) bool {
	if len(name) != 3 {
		return false
	}
	before = strings.TrimRight(before, " \t")
	i := len(before)
	for i > 0 && before[i-1] != ' ' && before[i-1] != '\t' {
		i--
	}
	return lowerIn(before[i:], pinVerbWords)
}

// pinVerbWords are the words before "pin" that make it a verb (pinVerb):
// "to", a modal or an auxiliary, and a subject's pronoun.
var pinVerbWords = map[string]bool{
	"to": true, "should": true, "must": true, "will": true, "would": true, "could": true, "can": true, "cannot": true,
	"can't": true, "shall": true, "may": true, "might": true, "we": true, "they": true, "let's": true, "lets": true,
	"don't": true, "didn't": true, "dont": true, "didnt": true, "also": true, "please": true,
}

// pinNumber reports whether w is a number of one to three digits: after
// a PIN's name, a pin's number on a board or a connector ("GPIO pin 13",
// "connect it to pin 7", whose number the key's rule cleared:
// TestRedactKeyWordEdges), a PIN having four digits or more (ISO 9564).
func pinNumber(w string) bool {
	return len(w) >= 1 && len(w) <= 3 && run(w, func(c byte) bool { return '0' <= c && c <= '9' }) == len(w)
}

// oracleSID reports whether name, a credential's, is an Oracle
// database's SID: "sid" after "Oracle ", or "SID" in capitals, as Oracle
// writes it ("connect to SID orcl", whose "orcl" the key's rule cleared:
// TestHarmlessKeyTextsKept); a session's id is "sid" ("sid hunter",
// cleared), and one that reads as no word is cleared after "SID" too
// (afterName: "SID hunter2").
func oracleSID(before, name string) bool {
	if name == "SID" {
		return true
	}
	return strings.EqualFold(name, "sid") && len(before) >= len("oracle ") && strings.EqualFold(before[len(before)-len("oracle "):], "oracle ")
}

// pluralName reports whether singular, a credential's name without a
// plural's "s", names a password, a token, a session or a key (nameMode).
func pluralName(singular string) bool {
	return passwordName(singular) || tokenName(singular) || sessionName(singular) || keyName(singular)
}

// dashBefore returns where the word after a dash at s[i] and the spaces
// after it starts ("Пароль — это ...", as Russian joins a name to what it
// is), or i when s[i] starts no dash.
func dashBefore(s string, i int) int {
	for _, d := range [...]string{"— ", "– ", "- "} {
		if strings.HasPrefix(s[i:], d) {
			return proseSpaces(s, i+len(d))
		}
	}
	return i
}

// proseMode is what stands before the word proseWord reads: a
// credential's name, a password's name (in Latin letters or another
// script), a token's or a secret's name, a linking verb (in Latin
// letters or another script) or a ':' after a linking verb or the words
// proseLink reads.
type proseMode uint8

const (
	afterName proseMode = iota
	afterPassword
	afterScriptPassword
	afterToken
	afterSession
	afterKey
	afterTokens
	afterPin
	afterPinVerb
	afterVerb
	afterScriptVerb
	afterSeparator
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
	if i == len(s) || strings.HasPrefix(s[i:], Redacted) || strings.IndexByte("([{:=", s[i]) >= 0 {
		// "password (hidden)" is prose; "password :x" a pair, cleared
		// already (redactPairs), whose ":[REDACTED" was read as a word.
		return i, i
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
	if !proseSecret(w, s[i+n:], mode) {
		return i, i
	}
	return i, i + n
}

// proseSecret reports whether w, the word proseWord reads, rest being
// what follows it, is a secret after what mode says stands before it.
func proseSecret(w, rest string, mode proseMode) bool {
	switch mode {
	case afterSeparator:
		return wordLetters(w, false)
	case afterVerb:
		return !keptWord(w) && wordLetters(w, false)
	case afterScriptVerb:
		return !keptWord(w) && wordLetters(w, false) && !scriptKeptWord(w)
	case afterPassword, afterScriptPassword:
		return !keptWord(w) && !passwordWord(w) && !gapWord(w) && !linkingVerb(w) && !count(w, rest) && wordLetters(w, mode == afterScriptPassword)
	case afterTokens:
		return !number(w) && proseSecret(w, rest, afterKey) // "tokens 1500": a count
	case afterPin:
		return !pinNumber(w) && proseSecret(w, rest, afterKey)
	case afterPinVerb:
		return !pinNumber(w) && proseSecret(w, rest, afterName)
	case afterToken, afterSession, afterKey:
		if secretLike(w) {
			return !count(w, rest)
		}
		if mode == afterKey {
			return plainWord(w) && !keptWord(w) && !passwordWord(w) && !tokenWord(w) && !sessionWord(w) && !keyWord(w) &&
				!gapWord(w) && !linkingVerb(w) && !authScheme(w) && !credentialKey(w) && !versionAfter(rest)
		}
		// A scheme's name alone ("secret Negotiate") is none.
		return plainWord(w) && !keptWord(w) && !passwordWord(w) && !tokenWord(w) && (mode == afterToken || !sessionWord(w)) &&
			!gapWord(w) && !linkingVerb(w) && !authScheme(w)
	}
	return secretLike(w) && !count(w, rest)
}

// number reports whether w is a number: digits, maybe grouped or with a
// fraction ("1,500", "1.5"), maybe ending in k or M ("4k").
func number(w string) bool {
	if n := len(w); n > 1 && (w[n-1] == 'k' || w[n-1] == 'K' || w[n-1] == 'M') {
		w = w[:n-1]
	}
	return w != "" && '0' <= w[0] && w[0] <= '9' && run(w, func(c byte) bool { return '0' <= c && c <= '9' || c == ',' || c == '.' }) == len(w)
}

// versionAfter reports whether rest, what follows a word after a key's
// name, starts with " to " or " at " and a version ("1.24", "v2"): the
// word is a package a PIN's name, a verb there, pins ("pin numpy to
// 1.24", whose "numpy" the key's rule cleared: TestHarmlessKeyTextsKept).
func versionAfter(rest string) bool {
	if !strings.HasPrefix(rest, " to ") && !strings.HasPrefix(rest, " at ") {
		return false
	}
	rest = rest[len(" to "):]
	if rest != "" && (rest[0] == 'v' || rest[0] == 'V') {
		rest = rest[1:]
	}
	return rest != "" && '0' <= rest[0] && rest[0] <= '9'
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

// proseGap is how many words proseLink reads past a credential's name:
// a preposition, a determiner and a noun with two words before it ("PIN
// for the office safe is 4821", "password for the new staging db is
// Xy7pq" were stored as sent with four: TestRedactTextEdges).
const proseGap = 6

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
			// After a ':' the word is a value, a kept word too ("the
			// password you asked for: reset"), stored as sent before
			// (TestForeignKeptWordAfterSeparatorRedacted).
			if (gap || gapWord(w)) && (s[j+n+1] == ' ' || s[j+n+1] == '\t') {
				return proseSpaces(s, j+n+1), afterSeparator
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
// words that name the secret itself ("token value is", "the otp code is",
// "PIN number is", whose code was stored as sent: TestRedactKeyWordEdges).
var gapWords = map[string]bool{
	"for": true, "of": true, "to": true, "from": true, "you": true, "we": true, "they": true, "i": true, "he": true, "she": true,
	"it": true, "that": true, "which": true, "the": true, "a": true, "an": true, "this": true, "your": true, "my": true,
	"our": true, "his": true, "her": true, "their": true, "its": true, "user": true, "account": true, "value": true,
	"string": true, "code": true, "number": true, "itself": true, "now": true, "here": true, "today": true, "then": true, "just": true,
	"für": true, "von": true, "de": true, "pour": true, "para": true, "del": true, "du": true,
}

// gapWord reports whether w, in any case, is one of gapWords.
func gapWord(w string) bool { return lowerIn(w, gapWords) }

// keptWords are the words after a credential's name and a linking verb
// (or a quoted one) that are prose, not a secret: a status or an
// adjective ("password is required", "token is expired", "password is
// too short", "password is reset"), an article, a negation or an adverb
// ("password is not set", "token is a JWT"), in English and, a few, in
// German, French, Spanish and Portuguese ("A senha é obrigatória").
// Any other word there is cleared
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
		given entered applied ready out safe never always usually probably likely very just reused shared exposed
		here there in on at for of to from by with without under over about into your my his her their our
		its this that these those what which whose where when how why
		falsch ungültig abgelaufen erforderlich leer nicht zu gesetzt geändert
		incorrect invalide requis expiré vide trop pas obligatoire
		incorrecta incorrecto inválida inválido requerida requerido vacía vacío caducada demasiado
		obligatoria obligatorio
		obrigatória obrigatório incorreta incorreto necessária vazia curta fraca forte expirada`) {
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
// "password and username..."), and a few in German, French, Spanish and
// Portuguese ("Passwort vergessen", "mot de passe oublié", and a modal or
// a verb of a policy's, "le mot de passe doit ...", "La contraseña debe
// ...", "... exige 12 caractères", whose verb was cleared:
// TestRedactTextEdges). A plural is read as its
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
		vergessen ändern zurücksetzen oublié oubliée perdu olvidada olvidado
		doit doivent exige contient debe deben requiere contiene tiene caduca actualizada
		actualizado cambiada cambiado deve precisa`) {
		m[w] = true
	}
	return m
}()

// passwordWord reports whether w, in any case, or w without a plural's
// "s", is one of passwordWords.
func passwordWord(w string) bool {
	return lowerIn(w, passwordWords) || len(w) > 3 && (w[len(w)-1] == 's' || w[len(w)-1] == 'S') && lowerIn(w[:len(w)-1], passwordWords)
}

// tokenName reports whether name, a credential's (credentialKey) in
// ASCII, ends in "token" or "secret" ("token", "access_token",
// "client-secret"), whose word after it proseWord reads as a password's
// is read, with tokenWords kept too.
func tokenName(name string) bool {
	if !isASCII(name) {
		return false
	}
	for _, w := range [...]string{"token", "secret"} {
		if len(name) >= len(w) && strings.EqualFold(name[len(name)-len(w):], w) {
			return true
		}
	}
	return false
}

// sessionName reports whether name, a credential's (credentialKey) in
// ASCII, ends in "session" or "cookie" ("session", "laravel_session",
// "cookie", "Set-Cookie"), or in a session's id ("session ID",
// "sessionid", "x-session-id", "PHPSESSID": "session ID hunter" was
// stored as sent, TestForeignSessionIDWordsRedacted), whose word after it
// proseWord reads as a token's is read, with sessionWords kept too.
func sessionName(name string) bool {
	if !isASCII(name) {
		return false
	}
	if n := len(name); n > 2 && strings.EqualFold(name[n-2:], "id") {
		name = strings.TrimRight(name[:n-2], " _-.")
		if n := len(name); n >= 4 && strings.EqualFold(name[n-4:], "sess") {
			return true
		}
	}
	for _, w := range [...]string{"session", "cookie"} {
		if len(name) >= len(w) && strings.EqualFold(name[len(name)-len(w):], w) {
			return true
		}
	}
	return false
}

// keyName reports whether name, a credential's (credentialKey) in ASCII,
// ends in a CSRF token's, an API key's, a session id's or a bearer
// token's name as a whole word ("csrf", "_xsrf", "api_key", "apikey",
// "x-api-key", "API key", "sid", "connect.sid", "Bearer"), whose word
// after it proseWord reads as a token's is read, with sessionWords,
// keyWords and a credential's name kept too: "csrf hunter", "api_key
// hunter", "sid hunter", "bearer hunter" were stored as sent
// (TestForeignKeyNameWordsRedacted), read by the rule of any
// credential's name, which clears only a word that reads as no word.
func keyName(name string) bool {
	if !isASCII(name) || len(name) > 64 {
		return false
	}
	var buf [64]byte
	k := buf[:len(name)]
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case c == '_' || c == '-' || c == '.' || c == ' ':
			c = '_'
		}
		k[i] = c
	}
	for _, w := range keyNames {
		n := len(k) - len(w.name)
		if n >= 0 && string(k[n:]) == w.name && (n == 0 || k[n-1] == '_' || !w.whole) {
			return true
		}
	}
	return false
}

// keyNames are the endings of the names keyName reads, folded as it folds
// them, and whether each must be a whole word ("sid", not "xsid"). Past a
// CSRF token's, an API key's, a session id's and a bearer token's names, a
// credential's, a private key's, a shell's "pwd" and an Authorization
// header's: "credential hunter", "private key hunter", "pwd hunter",
// "Authorization hunter" and "api keys hunter" were stored as sent
// (TestForeignOtherNameWordsRedacted). A one-time code's, a PIN's and a
// JWT's as whole words ("otp", "x-otp", "totp", "pin", "card.pin", "jwt";
// not "hotp", "spin"): "otp hunter", "pin hunter", "jwt hunter" were
// stored as sent (TestForeignKeyNameWordsRedacted). A one-time code's
// seed ("otp_seed", "totp-seed", "TOTP seed"), the secret its codes are
// made of: "otp_seed hunter" and "TOTP seed JBSWY3DPEHPK3PXP" were
// stored as sent, "seed" kept as a thing of the code's
// (TestRedactKeyWordEdges).
var keyNames = [...]struct {
	name  string
	whole bool
}{
	{"csrf", false}, {"xsrf", false}, {"api_key", false}, {"apikey", false}, {"api_keys", false}, {"apikeys", false},
	{"sid", true}, {"bearer", true}, {"pwd", true}, {"credential", false}, {"credentials", false},
	{"private_key", false}, {"privatekey", false}, {"private_keys", false}, {"authorization", false},
	{"otp", true}, {"totp", true}, {"pin", true}, {"jwt", true}, {"otp_seed", false},
}

// keyWords are the words right after a CSRF token's, an API key's, a
// session id's or a bearer token's name (keyName), with no linking verb,
// that are prose, not its value, past the token's and the session's
// words: a thing of it ("bearer realm", "csrf exempt", "api key tier")
// or what it does ("api key lacks scope", "sid differs"), a credential's,
// an Authorization header's, "auth"'s or "pwd"'s ("credential helper",
// "authorization code", "auth plugin", "pwd output"), a bearer bond's
// ("bearer bonds", cleared before: TestHarmlessNameTextsKept), a one-time
// code's, a PIN's and a JWT's ("otp app", "PIN pad", "pin entry", "jwt
// decode"), and what pinning a version pins ("pin dependencies", "pin
// them", "pin down"), and a count of tokens' ("tokens left", "tokens
// total"). A plural or a verb's third person is read as its
// singular.
var keyWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		token realm scheme exempt origin trusted tier plan label role owner hint auth
		belong lack require differ exist work allow permit grant expire
		helper chain process theft code model logic decision result bypass permission command output
		plugin method module library success return bond instrument cheque
		pad entry number digit app device sms seed backup resend enroll retry tries factor challenge
		authenticator version dependency package tab message post comment issue them down point
		decode encode sign parse debugger support spec lib left total max min avg corrupt`) {
		m[w] = true
	}
	return m
}()

// keyWord reports whether w, in lower case, is one of keyWords, or its
// plural or a verb's third person.
func keyWord(w string) bool {
	return lowerIn(w, keyWords) || len(w) > 3 && (w[len(w)-1] == 's' || w[len(w)-1] == 'S') && lowerIn(w[:len(w)-1], keyWords)
}

// sessionWords are the words right after a session's or a cookie's name
// (sessionName), with no linking verb, that are prose, not its value,
// past keptWords, passwordWords and tokenWords: a thing of the session's
// or the cookie's ("session timeout", "cookie banner", "session
// fixation" reads as tokenWord does) or what happens to it ("session
// opened", "session ends", "session lost"). Any other word of lower-case
// letters, its first maybe a capital (plainWord), there is cleared:
// "session hunter" and "cookie hunter" were stored as sent
// (TestForeignSessionAndCookieWordsRedacted).
var sessionWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		timeout idle banner consent notice affinity hijack replay info detail log summary start begin end
		open close lost resume state context object layer ticket tracking persistence sticky support
		window setting preference domain attribute flag samesite secure httponly duration length expiry
		over gone dead alive live timed time started ended closed opened renewed terminated killed
		monster wall popup modal storage store manager management user users id cookie token exit quota tab restore`) {
		m[w] = true
	}
	return m
}()

// sessionWord reports whether w, in lower case, is one of sessionWords,
// or its plural or a verb's third person ("session ends").
func sessionWord(w string) bool {
	return lowerIn(w, sessionWords) || len(w) > 3 && w[len(w)-1] == 's' && lowerIn(w[:len(w)-1], sessionWords)
}

// tokenWords are the words right after a token's or a secret's name
// (tokenName), with no linking verb, that are prose, not the secret, past
// keptWords and passwordWords: a thing of the token's or the secret's
// ("token bucket", "token endpoint", "secret store", "secret question",
// a UI's "token spinner", a coin's "token Balance", cleared before:
// TestHarmlessNameTextsKept) or a compound's second half ("cookie less",
// "token free", cleared before: TestHarmlessWordTextsKept).
// A word ending as a verb's form or a noun made of one does ("token
// refreshed", "secret scanning", "token introspection": tokenWord).
// Any other word of lower-case letters, its first maybe a capital
// (plainWord), there is cleared: "token hunter" and "secret hunter" were
// stored as sent (TestForeignTokenAndSecretWordsRedacted).
var tokenWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		bucket buckets endpoint exchange refresh issuer audience scope claim signature header payload format
		prefix suffix engine backend name ref reference path mount version count limit size budget usage cache
		source parser validator revocation lifetime ttl id key string ring question answer scanner detector
		rotator renewal response holder jar pool filter middleware handler server client url uri param
		parameter rate grant owner digest verifier cookie agent env variable var data map metadata binding
		bound per kind class family sharing share santa sauce lookup cost vs versus
		spinner loader counter icon button widget badge less free aware balance
		revoke rotate issue verify validate create delete renew fetch get read write use introspect`) {
		m[w] = true
	}
	return m
}()

// tokenWord reports whether w, in lower case, is one of tokenWords, or
// ends as a verb's form or a noun made of one does ("-ed", "-ing",
// "-tion", "-sion", "-ment", "-ly") or as an adjective made of a verb
// ("-able", "-ible": "private key unreadable", cleared before:
// TestHarmlessKeyTextsKept), or is an irregular verb's past form, which
// no ending marks (irregularPast: "private key broken", "private key
// stolen", cleared before: TestRedactKeyWordEdges), or is the plural of
// such a word ("token embeddings").
func tokenWord(w string) bool {
	if lowerIn(w, tokenWords) || lowerIn(w, irregularPast) {
		return true
	}
	if len(w) > 3 && w[len(w)-1] == 's' {
		w = w[:len(w)-1]
		if lowerIn(w, tokenWords) {
			return true
		}
	}
	for _, end := range [...]string{"ed", "ing", "tion", "sion", "ment", "ly", "able", "ible"} {
		if len(w) > len(end)+2 && strings.HasSuffix(w, end) {
			return true
		}
	}
	return false
}

// plainWord reports whether w is a word of lower-case ASCII letters, its
// first maybe a capital ("hunter", "Hunter"; not "ungültig"): the word
// lists are read in any case, so a capitalised word is judged as its
// lower-case form ("token Expired." is kept). "token Hunter" was stored
// as sent, only a word of lower-case letters read
// (TestForeignCapitalisedWordsAfterTokenRedacted).
func plainWord(w string) bool {
	if w != "" && 'A' <= w[0] && w[0] <= 'Z' {
		w = w[1:]
	}
	return w != "" && run(w, func(c byte) bool { return 'a' <= c && c <= 'z' || c == '-' || c == '\'' }) == len(w)
}

// passwordNames are, folded and without marks, the names of a password
// whose word after it (proseWord) and whose pair's several words
// (phraseEnd) are its value: a name ending in one of them names a
// password ("password", "db.password", "new_password", "Passwort",
// "mot de passe", "пароль"). Not "pwd", a shell's working directory, nor
// "pin", a short code with no spaces.
var passwordNames = [...]string{"password", "passwd", "passphrase", "passcode", "passwort", "kennwort", "motdepasse", "contrasena",
	"wachtwoord", "losenord", "passord", "adgangskode", "salasana", "mdp", "clave", "senha", "sifre", "hasło"}

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
// ("password is ...", "token was ..."; German ist, war, and lautet, as
// German gives a value, "Das Passwort lautet ..."; French est; Spanish
// es, era; Portuguese é; Polish jest; Russian это, Greek είναι, Arabic هي, Hebrew היא
// and הוא, Thai คือ). "Das Passwort lautet Sommer2024" and "A senha é
// sol2024" had the verb cleared and the password stored as sent
// (TestRedactTextEdges).
func linkingVerb(w string) bool {
	switch {
	case w == "":
		return false
	case w[0] < utf8.RuneSelf:
		if len(w) > 7 {
			return false
		}
		for _, v := range [...]string{"is", "was", "are", "were", "ist", "war", "lautet", "lauten", "lautete", "jest", "est", "es", "era"} {
			if len(v) == len(w) && strings.EqualFold(w, v) {
				return true
			}
		}
	default:
		for _, v := range [...]string{"é", "это", "είναι", "هي", "היא", "הוא", "คือ"} {
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
