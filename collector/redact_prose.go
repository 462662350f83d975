package collector

// A credential's value after its name in prose, with no '=' or ':'
// (redactProse: "password is hunter2", "password hunter", "the token
// that was issued is abc"): the matcher. The names it tells apart are in
// redact_prose_names.go, the words it reads by in redact_prose_words.go.

import (
	"strings"
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
// (TestForeignSecretsInProseRedacted); Vietnamese "mật khẩu". Else w.
func wordsBefore(s string, w, e int) int {
	switch {
	case w >= 7 && e-w == len("passe") && strings.EqualFold(s[w:e], "passe") && strings.EqualFold(s[w-7:w], "mot de "):
		return w - 7
	case w >= len("mật ") && e-w == len("khẩu") && strings.EqualFold(s[w:e], "khẩu") && strings.EqualFold(s[w-len("mật "):w], "mật "):
		return w - len("mật ") // Vietnamese mật khẩu: TestRedactMissedSecretEdges
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

// proseValue returns where the secret after a credential's name (name,
// which starts at s[start] and ends at s[i], a space following it) starts
// and ends, the same when there is none (redactProse).
func proseValue(s string, i, start int, name string) (from, to int) {
	i = proseSpaces(s, i)
	v := dashBefore(s, i) // "Пароль — это ...": the dash goes before the verb
	if n := run(s[v:], pairNameByte); n > 0 && v+n+1 < len(s) && linkingVerb(s[v:v+n]) {
		switch {
		case s[v+n] == ' ':
			return phraseValue(s, proseSpaces(s, v+n), verbMode(s[v:v+n]), name)
		case s[v+n] == ':' && (s[v+n+1] == ' ' || s[v+n+1] == '\t'):
			return proseWord(s, proseSpaces(s, v+n+1), afterSeparator) // "password is: none"
		}
	}
	if n := cestLen(s[v:]); n > 0 {
		return phraseValue(s, proseSpaces(s, v+n), afterVerb, name)
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
		from, to = proseWord(s, j, mode)
		return from, phraseMore(s, from, to, name)
	}
	if j, m := proseLink(s, i); j > i {
		return phraseValue(s, j, m, name)
	}
	return i, i
}

// cestLen returns the length of French "c'est " (or "c’est ") at the
// start of s, the linking verb of "le mot de passe c'est Soleil2024",
// whose "c" was cleared and the password stored as sent
// (TestRedactMissedSecretEdges); else 0. linkingVerb reads no apostrophe.
func cestLen(s string) int {
	if s == "" || s[0]|0x20 != 'c' {
		return 0
	}
	for _, v := range [...]string{"c'est ", "c’est "} {
		if len(s) >= len(v) && strings.EqualFold(s[:len(v)], v) {
			return len(v)
		}
	}
	return 0
}

// phraseValue returns where the value after a linking verb, at s[j],
// starts and ends, mode being the verb's (proseWord): for a password's
// name (passwordName) it runs over the words of a passphrase
// (phraseMore), and after a passphrase's name a kept word may start
// one ("the passphrase is correct horse battery staple" was stored as
// sent: TestRedactMissedSecretEdges) when two words at least follow it
// that phraseMore reads on ("the passphrase is correct" is kept).
func phraseValue(s string, j int, mode proseMode, name string) (from, to int) {
	from, to = proseWord(s, j, mode)
	if mode != afterVerb {
		return from, to
	}
	if from < to {
		return from, phraseMore(s, from, to, name)
	}
	if !passphraseName(name) {
		return from, to
	}
	n := run(s[j:], func(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' })
	if n == 0 || !keptWord(s[j:j+n]) {
		return from, to
	}
	if end := phraseMore(s, j, j+n, name); phraseWordsIn(s[j+n:end]) >= 2 {
		return j, end
	}
	return from, to
}

// phraseMore returns where a password's value of words that starts at
// s[from] and whose first word ends at s[to] ends: a first word of
// letters alone (plainWord) is read as a passphrase's first, and the
// words after it that are none of the words prose speaks of a password
// with (keptWords, passwordWords, gapWords, a linking verb), up to
// phraseMax, are its own: "changed my password to autumn leaves" kept
// "leaves" (TestRedactMissedSecretEdges); "password is hunter and ..."
// stops at "and". A first word that reads as no word ("Secret9") is the
// whole value ("mot de passe est Secret9 ici" keeps "ici"). For another
// credential's name (not passwordName) it is to.
func phraseMore(s string, from, to int, name string) int {
	if from == to || !plainWord(s[from:to]) || !passwordName(name) {
		return to
	}
	for range phraseMax {
		if to+1 >= len(s) || s[to] != ' ' {
			return to
		}
		k := to + 1
		n := run(s[k:], func(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' || c == '-' || c == '\'' })
		w := s[k : k+n]
		if n == 0 || k+n < len(s) && strings.IndexByte(" .,;!?", s[k+n]) < 0 || !plainWord(w) ||
			keptWord(w) || passwordWord(w) || gapWord(w) || linkingVerb(w) {
			return to
		}
		to = k + n
	}
	return to
}

// phraseMax is how many words phraseMore reads past a passphrase's
// first: xkcd's four words and two more.
const phraseMax = 5

// phraseWordsIn returns how many words spaced apart s holds.
func phraseWordsIn(s string) int {
	n := 0
	for range strings.FieldsSeq(s) {
		n++
	}
	return n
}

// passphraseName reports whether name, a password's, ends in
// "passphrase", in any case.
func passphraseName(name string) bool {
	const p = "passphrase"
	return len(name) >= len(p) && strings.EqualFold(name[len(name)-len(p):], p)
}

// setTo returns where the word after "to" at s[i] starts when a verb
// that sets a credential (settingWords) stands within three words before
// its name, which starts at s[start]: that word is the new value, read
// as the word right after the name is ("set the password to hunter2",
// "I changed my password to autumn", "changed the PIN to 4821" were
// stored as sent: TestRedactTextEdges). Else i: "password to unlock the
// vault" is prose; so is a word that only says what the value is to be,
// one of keptWords ("set the password to something stronger", whose
// "something" was cleared: TestRedactOverRedactionEdges).
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
	// "unseal key 3: ...": the name's index, its pair redactPairs'.
	if k := run(s[i:], func(c byte) bool { return '0' <= c && c <= '9' }); k > 0 && k <= 2 && i+k < len(s) && s[i+k] == ':' {
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
		return !pinNumber(w) && !requirement(w) && proseSecret(w, rest, afterKey)
	case afterPinVerb:
		return !pinNumber(w) && !requirement(w) && proseSecret(w, rest, afterName)
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
		gap = gap || gapWord(w) && !doNot(w, s[proseSpaces(s, j+n):])
		rel = rel || lowerIn(w, relativeWords)
		j = proseSpaces(s, j+n)
	}
	return i, afterVerb
}

// proseQuoted is the longest quoted secret proseValue clears.
const proseQuoted = 256

// doNot reports whether w is English "do" and rest, what follows it,
// starts with "not": "passwords do not match: retry" is prose, though
// Portuguese "do" is a gap word ("senha do wifi: ...").
func doNot(w, rest string) bool {
	return strings.EqualFold(w, "do") && len(rest) >= 3 && strings.EqualFold(rest[:3], "not") && (len(rest) == 3 || !pairNameByte(rest[3]))
}
