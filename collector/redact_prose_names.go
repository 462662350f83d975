package collector

// The names of credentials redactProse tells apart (a password's, a
// token's, a session's, a key's, a PIN's), which decide the rule the word
// after the name is read by (nameMode).

import (
	"strings"
	"unicode/utf8"
)

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
		if pinVerb(before, name) || pinImperative(before, name) {
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
// cleared), a package pinned to a version kept ("we should pin
// numpy==1.24": requirement).
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

// pinImperative reports whether name is "Pin", a capital first and
// the rest in lower case, opening the text or a sentence (before, the
// text before it, ends in none or in ".", "!", "?", ":" or a line
// break, spaces passed over): an imperative, as a commit's or a ticket's
// title writes it ("Pin numpy in requirements", whose "numpy" the key's
// rule cleared: TestRedactOverRedactionEdges). Its word after is read as
// after pinVerb's; the cost is a plain word after a title's "Pin" ("Pin
// hunter" is kept; "Pin 4821" and "PIN hunter" are cleared).
func pinImperative(before, name string) bool {
	if name != "Pin" {
		return false
	}
	before = strings.TrimRight(before, " \t")
	return before == "" || strings.IndexByte(".!?:\n", before[len(before)-1]) >= 0
}

// requirement reports whether w, the word after a PIN's name, is a
// package pinned to a version as a requirements file writes it, a name
// then "==", ">=", "<=", "~=" or "!=" and a version of digits and dots
// ("pin numpy==1.24",
// cleared before: TestRedactOverRedactionEdges).
func requirement(w string) bool {
	i := strings.IndexAny(w, "=<>~!")
	if i <= 0 || i+2 >= len(w) || w[i+1] != '=' || w[i+2] < '0' || w[i+2] > '9' ||
		run(w[i+2:], func(c byte) bool { return '0' <= c && c <= '9' || c == '.' || c == '*' }) != len(w)-i-2 {
		return false
	}
	return run(w[:i], func(c byte) bool {
		return 'a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
	}) == i
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
