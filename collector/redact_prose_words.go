package collector

// The words redactProse reads a credential's value by: the linking verbs,
// the word lists of prose kept after each kind of name (keptWords,
// passwordWords, tokenWords, sessionWords, keyWords), and the tests of a
// word's shape (secretLike, plainWord, number).

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// settingWords are the verbs that give a credential a new value, in
// their forms (setTo).
var settingWords = map[string]bool{
	"set": true, "sets": true, "setting": true, "change": true, "changed": true, "changes": true, "changing": true,
	"reset": true, "resets": true, "resetting": true, "update": true, "updated": true, "updates": true, "updating": true,
}

// pinVerbWords are the words before "pin" that make it a verb (pinVerb):
// "to", a modal or an auxiliary, and a subject's pronoun.
var pinVerbWords = map[string]bool{
	"to": true, "should": true, "must": true, "will": true, "would": true, "could": true, "can": true, "cannot": true,
	"can't": true, "shall": true, "may": true, "might": true, "we": true, "they": true, "let's": true, "lets": true,
	"don't": true, "didn't": true, "dont": true, "didnt": true, "also": true, "please": true,
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
// "PIN number is", whose code was stored as sent: TestRedactKeyWordEdges),
// and Portuguese do, da ("senha do wifi: Praia2024" was stored as sent:
// TestRedactMissedSecretEdges; English "do" is read on only when no
// negation follows: proseLink).
var gapWords = map[string]bool{
	"for": true, "of": true, "to": true, "from": true, "you": true, "we": true, "they": true, "i": true, "he": true, "she": true,
	"it": true, "that": true, "which": true, "the": true, "a": true, "an": true, "this": true, "your": true, "my": true,
	"our": true, "his": true, "her": true, "their": true, "its": true, "user": true, "account": true, "value": true,
	"string": true, "code": true, "number": true, "itself": true, "now": true, "here": true, "today": true, "then": true, "just": true,
	"für": true, "von": true, "de": true, "pour": true, "para": true, "del": true, "du": true,
	"do": true, "da": true, "dos": true, "das": true,
}

// gapWord reports whether w, in any case, is one of gapWords.
func gapWord(w string) bool { return lowerIn(w, gapWords) }

// keptWords are the words after a credential's name and a linking verb
// (or a quoted one) that are prose, not a secret: a status or an
// adjective ("password is required", "token is expired", "password is
// too short", "password is reset"), an article, a negation or an adverb
// ("password is not set", "token is a JWT"), a word that only says what
// a value is to be ("set the password to something stronger"), in
// English and, a few, in German, French, Spanish, Portuguese ("A senha é
// obrigatória") and Vietnamese ("mật khẩu là sai").
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
		something anything nothing whatever another stronger longer better
		its this that these those what which whose where when how why
		falsch ungültig abgelaufen erforderlich leer nicht zu gesetzt geändert
		incorrect invalide requis expiré vide trop pas obligatoire
		incorrecta incorrecto inválida inválido requerida requerido vacía vacío caducada demasiado
		obligatoria obligatorio
		obrigatória obrigatório incorreta incorreto necessária vazia curta fraca forte expirada
		sai đúng trống không bắt quá yếu mạnh hết cần`) {
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

// linkingVerb reports whether w joins a name to what it is in prose
// ("password is ...", "token was ..."; German ist, war, and lautet, as
// German gives a value, "Das Passwort lautet ..."; French est; Spanish
// es, era; Portuguese é; Polish jest; Vietnamese là ("mật khẩu là
// Hoa2024" was stored as sent: TestRedactMissedSecretEdges); Russian это, Greek είναι, Arabic هي, Hebrew היא
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
		for _, v := range [...]string{"is", "was", "are", "were", "ist", "war", "lautet", "lauten", "lautete", "jest", "est", "es", "era", "là"} {
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
