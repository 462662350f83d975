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

// proseQuoted is the longest quoted secret proseValue clears.
const proseQuoted = 256
