package collector

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/portcullis/portcullis/internal/credential"
)

// Redacted stands in the store for a credential a foreign OTLP client
// sent: nothing secret reaches an audit record, whoever sent it. The
// sidecar records key ids, never a key, a token or a query value; another
// OTLP client's attributes and body are stored as sent, so the well-known
// places a credential travels are cleared before they are
// (TestForeignCredentialsRedacted). Every record's path, user agent and
// request id, which the API's client wrote, are cleared too
// (redactRequestFields, TestCredentialsInRequestFieldsRedacted).
const Redacted = credential.Redacted

// foreignAttr returns the value stored for the foreign attribute key:
// Redacted for a credential's key (an Authorization or Cookie header, a
// password, secret, token or session id), a URL without the values of
// its query, and any value with the credentials redactText finds cleared.
func foreignAttr(key, v string) string {
	if v == "" {
		return v
	}
	if credentialKey(key) {
		return Redacted
	}
	switch foldName(key) {
	case "url.query", "http.query":
		return Redacted
	case "url.full", "url.original", "http.url", "http.target":
		if i := strings.IndexByte(v, '?'); i >= 0 {
			v = v[:i+1] + Redacted
		}
	}
	return redactText(v)
}

// redactText clears the credentials of a foreign text (a value, a body,
// a record's path, user agent or request id): those credential.Redact
// finds by their shape, then the value of each pair in the text whose
// name names a credential (redactPairs), then a secret written after
// such a name with no separator (redactProse), or right after a
// password's name in a script other than Latin, a particle maybe between
// (redactParticles).
func redactText(s string) string {
	return redactParticles(redactProse(redactPairs(credential.Redact(s))))
}

// RedactText returns s with the credentials the collector clears from
// the foreign text it stores replaced by Redacted: those
// credential.Redact finds by their shape (API keys, JWTs, Bearer and
// Basic values, and these encoded), the value of a pair whose name names
// a credential ("api_key=abc123", "password: correct horse"), and a
// secret written after such a name in prose ("password hunter2",
// "password is hunter2", in other languages and scripts too). Prose
// that only speaks of a credential ("password is required", "token was
// revoked") is kept. It is for text that leaves a program without
// passing through the store's intake: the alert package's tickets and
// incident reports carry operators' notes and Alertmanager's labels.
// It is safe for concurrent use.
func RedactText(s string) string { return redactText(s) }

// credentialKey reports whether an attribute key names a credential: it
// holds authorization, cookie, password, passwd, passphrase, secret,
// api_key, apikey, api-key, private_key, privatekey, private-key,
// credential, csrf or xsrf, or a part "key" after one ending in api or
// private (api.key, "API Key"), or one of its parts (between '.', '[',
// '/' and other marks that are not a name's letters, digits, '_' or '-')
// ends in token (access_token, x-auth-token; not input_tokens, a count)
// or names a session's id (sessionID: sid, JSESSIONID, PHPSESSID), or is
// a session (sessionPart) as the last part or before an id part
// ("session", "session.id"; not "session.count"). Any part, not
// only the last: a key is the path to its value, as a map's members are,
// and a map under a credential's name is cleared whole, so
// "password.value", "secret.0" and "http.request.header.authorization.value"
// name credentials as {"password": {"value": ...}} does; only the part
// after the last '.' was read, and they were stored as sent
// (TestForeignCredentialsUnderDottedKeysRedacted). The cost is the value
// of a harmless key under such a name ("password.changed_at",
// "gen_ai.token.type"), cleared as its map would be. A private key or a
// passphrase was stored as sent (TestForeignPrivateKeysAndPassphrasesRedacted).
// The key is read as foldName reads it: "ｐａｓｓｗｏｒｄ", "Authorіzation"
// (a Cyrillic і), "pass\u200bword" and "pass%77ord" were stored as sent
// (TestForeignLookalikeAndEncodedNamesRedacted).
func credentialKey(key string) bool {
	if !mayName(key) {
		return false
	}
	k := foldName(key)
	for _, w := range [...]string{"authorization", "cookie", "password", "passwd", "passphrase", "secret", "api_key", "apikey", "api-key", "private_key", "privatekey", "private-key", "credential", "csrf", "xsrf"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	for _, w := range foreignPasswords {
		if strings.Contains(k, w) {
			return true
		}
	}
	// German Schlüssel, a key ("API-Schlüssel", "Schlüssel: ..." was
	// stored as sent: TestRedactMissedSecretEdges), folded or spelt "ue".
	if strings.Contains(k, "schlussel") || strings.Contains(k, "schluessel") {
		return true
	}
	if !isASCII(k) {
		for _, w := range scriptPasswords {
			if strings.Contains(k, w) {
				return true
			}
		}
	}
	// "pass_word", "PASS-WORD", "pass word": a password with a mark
	// between its halves (TestForeignCookieListsAndSpelledPasswordsRedacted);
	// "mot de passe", "mot_de_passe".
	if strings.ContainsAny(k, "_-. ") {
		sq := nameMarks.Replace(k)
		for _, w := range [...]string{"password", "passwd", "passphrase", "motdepasse", "matkhau"} {
			if strings.Contains(sq, w) {
				return true
			}
		}
		for _, w := range scriptPasswordsJoined {
			if strings.Contains(sq, w) {
				return true
			}
		}
	}
	prev := ""
	for part := range strings.FieldsFuncSeq(k, notNamePart) {
		if strings.HasSuffix(part, "token") || sessionID(part) || secretWord(part) {
			return true
		}
		// "api.key", "API Key", "tls.private.key": api_key and
		// private_key with another mark between (TestForeignKeysSpacedOrDottedRedacted).
		if (part == "key" || part == "keys") && (strings.HasSuffix(prev, "api") || strings.HasSuffix(prev, "private")) {
			return true
		}
		// "session.id", "session.previous_id": a session's id under its map.
		if sessionPart(prev) && (part == "id" || strings.HasSuffix(part, "_id") || strings.HasSuffix(part, "-id")) {
			return true
		}
		if secretCode(prev, part) {
			return true
		}
		prev = part
	}
	return sessionPart(prev) // "session", "user.session", "laravel_session"
}

// secretCode reports whether a key's part, prev being the part before
// it, names a code or a key that opens a thing by itself: a recovery or
// backup code, a door's or an alarm's code, a Vault unseal key
// ("recovery code 8H2K-9QXT", "door code 4821", "unseal key 3: ..." were
// stored as sent: TestRedactMissedSecretEdges). The owner is the part's
// word before "code" or "key" ("door_code", "unseal-key") or, alone, the
// part before ("recovery code"). "error code" and "status code" name
// none.
func secretCode(prev, part string) bool {
	for _, end := range [...]string{"code", "codes", "key", "keys"} {
		head, ok := strings.CutSuffix(part, end)
		if !ok {
			continue
		}
		switch {
		case head == "":
			head = prev
		case head[len(head)-1] == '_' || head[len(head)-1] == '-':
			head = head[:len(head)-1]
		default:
			continue
		}
		for _, w := range [...]string{"recovery", "backup", "door", "alarm", "unseal"} {
			if strings.HasSuffix(head, w) {
				return true
			}
		}
	}
	return false
}

// foreignPasswords are the names of a password in other languages that
// credentialKey finds anywhere in a key, as it finds "password": German
// Passwort and Kennwort, French motdepasse (mot de passe spelt with a
// mark between its words is read as "pass word" is), Spanish contraseña
// (contrasena once NFKD drops its tilde), Dutch wachtwoord, Swedish
// lösenord, Norwegian passord, Danish adgangskode, Finnish salasana,
// Polish hasło ("hasło: Lato2024" was stored as sent: TestRedactTextEdges),
// Vietnamese mật khẩu spelt as one word ("matkhau"; with its space it is
// read as "pass word" is).
// Their values were stored as sent (TestForeignNamesInOtherLanguagesRedacted).
// The shorter names, which are parts of other words, are whole words
// only (secretWord: mdp, clave, senha, sifre). Names in a script other
// than Latin are scriptPasswords'.
var foreignPasswords = [...]string{"passwort", "kennwort", "motdepasse", "contrasena", "wachtwoord", "losenord", "passord", "adgangskode", "salasana", "hasło", "matkhau"}

// scriptPasswords are the names of a password in scripts other than
// Latin, folded as foldName folds a name (so "ПАРОЛЬ", "ﾊﾟｽﾜｰﾄﾞ" in
// halfwidth katakana and "κωδικός" without its accent read as they
// look), which credentialKey finds anywhere in a name: Russian and
// Ukrainian пароль, Chinese 密码 and 密碼, Japanese パスワード, Korean
// 비밀번호, Arabic كلمة المرور and كلمة السر, Hebrew סיסמה and סיסמא, Greek
// συνθηματικό and κωδικός (in its cases; it is also a code), Hindi
// पासवर्ड, Thai รหัสผ่าน. Their values were stored as sent
// (TestForeignNamesInOtherScriptsRedacted). scriptPasswordsJoined are
// the same without their spaces, for "كلمة_المرور" (nameMarks).
var scriptPasswords, scriptPasswordsJoined = foldedNames(
	"пароль", "密码", "密碼", "パスワード", "비밀번호", "كلمة المرور", "كلمة السر", "סיסמה", "סיסמא",
	"συνθηματικό", "ΣΥΝΘΗΜΑΤΙΚΟ", "κωδικός", "ΚΩΔΙΚΟΣ", "κωδικού", "पासवर्ड", "รหัสผ่าน")

// foldedNames returns names as foldName reads them, and those of them
// with spaces without their spaces.
func foldedNames(names ...string) (folded, joined []string) {
	for _, n := range names {
		f := foldName(n)
		folded = append(folded, f)
		if strings.Contains(f, " ") {
			joined = append(joined, nameMarks.Replace(f))
		}
	}
	return folded, joined
}

// isASCII reports whether s holds only ASCII, eight bytes at a time
// (redactParticles asks it of every text).
func isASCII(s string) bool {
	for len(s) >= 8 {
		if s[0]|s[1]|s[2]|s[3]|s[4]|s[5]|s[6]|s[7] >= utf8.RuneSelf {
			return false
		}
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// mayName reports, reading key once, whether credentialKey need fold and
// read it: key holds a character outside ASCII, a '%' or a '&' (an HTML
// character reference: foldName), or, in any case, one of the fragments
// each name it takes holds (auth, cook, pass, secr, api, priv, cred, srf,
// oken, sid, sess, pw, pin, otp, jwt, bearer, those of foreignPasswords
// and secretWord's other languages), or it ends in secretCode's "code"
// or "key" (or their plurals: codeEnd).
// Most keys and the names before each '=' and ':' of a text hold none
// ("http.request.method", "page").
func mayName(key string) bool {
	if codeEnd(key) {
		return true
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= utf8.RuneSelf || c == '%' || c == '&' {
			return true
		}
		var frags []string
		switch c | 0x20 {
		case 'a':
			frags = []string{"auth", "api", "adgang"}
		case 'c':
			frags = []string{"cook", "cred", "contras", "clave"}
		case 'k':
			frags = []string{"kennw"}
		case 'l':
			frags = []string{"losen"}
		case 'm':
			frags = []string{"mdp", "matkh"}
		case 'w':
			frags = []string{"wacht"}
		case 'p':
			frags = []string{"pass", "priv", "pw", "pin"}
		case 's':
			frags = []string{"secr", "sid", "sess", "srf", "senh", "salas", "sifr", "schl"}
		case 'o':
			frags = []string{"oken", "otp"}
		case 'j':
			frags = []string{"jwt", "jeton"}
		case 'b':
			frags = []string{"bearer"}
		default:
			continue
		}
		for _, f := range frags {
			if len(key)-i >= len(f) && strings.EqualFold(key[i:i+len(f)], f) {
				return true
			}
		}
	}
	return false
}

// codeEnd reports whether key ends in "code", "codes", "key" or "keys",
// in any case: the names secretCode reads ("recovery code", "unseal
// key") end so, and are looked for at the end only, not at each 'c' and
// 'k' of every word (BenchmarkRedactText).
func codeEnd(key string) bool {
	n := len(key)
	if n > 4 && key[n-1]|0x20 == 's' {
		n--
	}
	return n >= 3 && key[n-1]|0x20 == 'y' && key[n-2]|0x20 == 'e' && key[n-3]|0x20 == 'k' ||
		n >= 4 && key[n-1]|0x20 == 'e' && key[n-2]|0x20 == 'd' && key[n-3]|0x20 == 'o' && key[n-4]|0x20 == 'c'
}

// nameMarks drops the marks a key's words are spelt apart with.
var nameMarks = strings.NewReplacer("_", "", "-", "", ".", "", " ", "")

// sessionID reports whether a part of a key names a session's id, the
// credential a session cookie carries: sid (connect.sid), or one ending
// in sessionid, session_id, session-id or sessid (JSESSIONID, PHPSESSID,
// ASP.NET_SessionId, x-session-id) or in -sid or _sid (x-sid); such an
// id was stored as sent
// (TestForeignSessionIDsRedacted). Not a part that only starts so:
// session_idle_timeout, sidebar.
func sessionID(part string) bool {
	if part == "sid" {
		return true
	}
	for _, w := range [...]string{"sessionid", "session_id", "session-id", "sessid", "-sid", "_sid"} {
		if strings.HasSuffix(part, w) {
			return true
		}
	}
	return false
}

// secretWord reports whether a part of a key is a word that names a
// secret by itself: a password's short names (pwd, pw, passcode), a PIN, a
// one-time code (otp, totp), a JWT or a bearer token. Only as a whole
// word of the part, between '-' and '_' ("user.pin", "x-otp", "--pwd",
// "pin_code"; not "pinned", "spin", "hotp_counter"): each was stored as
// sent (TestForeignShortSecretNamesRedacted); so were "creds" and French
// jeton, a token (TestRedactMissedSecretEdges). So are a password's names
// in other languages that are parts of other words: French mdp, Spanish
// clave (not autoclave), Portuguese senha (not resenha), Turkish şifre
// (TestForeignNamesInOtherLanguagesRedacted). "pw: Tr0ub4dor" and "root
// pw is Tr0ub4dor" were stored as sent (TestRedactTextEdges); "pwm" and
// "pwa" name nothing.
func secretWord(part string) bool {
	for w := range strings.FieldsFuncSeq(part, func(c rune) bool { return c == '-' || c == '_' }) {
		switch w {
		case "pwd", "pw", "passcode", "pin", "otp", "totp", "jwt", "bearer", "creds", "jeton", "mdp", "clave", "senha", "sifre":
			return true
		}
	}
	return false
}

// sessionPart reports whether a part of a key is a session, or ends in
// one (laravel_session, _myapp_session: Rails' and Laravel's session
// cookies). credentialKey takes it for a credential when it is the last
// part, or the next is id or ends in _id or -id: a session's map of "id", "count" and
// "duration" is not all secret, so "session.count" and "session_count"
// are kept.
func sessionPart(part string) bool {
	return part == "session" || strings.HasSuffix(part, "_session") || strings.HasSuffix(part, "-session")
}

// foldName returns a key or a pair's name as credentialKey reads it: in
// lower case, its percent escapes decoded (twice encoded too: "pass%77ord",
// "%41uthorization", "%2541uthorization"), its numeric HTML character
// references too ("&#112;assword", "p&#x61;ssword": an HTML page or an
// HTML-escaped log line; TestForeignHTMLEscapedNamesRedacted), and, when it holds a character
// outside ASCII, read as it looks (lookalikeFold). An ASCII name without
// '%', the common case, is only lowered.
func foldName(key string) string {
	for range 3 {
		if strings.IndexByte(key, '%') < 0 {
			break
		}
		d, ok := credential.PercentDecode(key)
		if !ok {
			break
		}
		key = d
	}
	if strings.Contains(key, "&#") {
		key = htmlRefsDecode(key)
	}
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			key = lookalikeFold(key)
			if strings.Contains(key, "&#") { // a reference in fullwidth, or with invisible characters in it
				key = lookalikeFold(htmlRefsDecode(key))
			}
			return key
		}
	}
	return strings.ToLower(key)
}

// htmlRefsDecode returns s with its numeric character references
// (&#112; &#x70;) of characters from U+0020 on decoded.
func htmlRefsDecode(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "&#")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		n, r := htmlRef(s[i:])
		if n == 0 {
			b.WriteString(s[:i+2])
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteRune(r)
		s = s[i+n:]
	}
}

// htmlRef returns the length of the numeric character reference at the
// start of s (&#112; or &#x70;, up to six digits) and its character, or 0.
func htmlRef(s string) (int, rune) {
	if !strings.HasPrefix(s, "&#") {
		return 0, 0
	}
	i, base := 2, rune(10)
	if i < len(s) && s[i]|0x20 == 'x' {
		i, base = 3, 16
	}
	var r rune
	start := i
	for ; i < len(s) && i-start < 7; i++ {
		c := rune(s[i] | 0x20)
		switch {
		case '0' <= c && c <= '9':
			r = r*base + c - '0'
		case base == 16 && 'a' <= c && c <= 'f':
			r = r*base + c - 'a' + 10
		case s[i] == ';' && i > start && r >= ' ' && r <= unicode.MaxRune:
			return i + 1, r
		default:
			return 0, 0
		}
	}
	return 0, 0
}

// lookalikeFold returns s read as it looks, lowered: its compatibility
// decomposition (NFKD: fullwidth "ｐａｓｓ" is "pass", "ﬁ" is "fi", a
// circled or mathematical letter its letter) without the combining marks
// that decomposition leaves (an accent over a letter) nor the
// default-ignorable code points, which show nothing (a zero-width space
// or joiner, a soft hyphen, a direction mark, a variation selector, a
// Hangul filler), with the Cyrillic, Greek and other letters that look
// like a Latin one (lookalikes) read as that letter. A name so folded
// matches what a reader of the record would take it for.
func lookalikeFold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFKD.String(s) {
		if unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Cf, r) ||
			unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || unicode.Is(unicode.Variation_Selector, r) {
			continue
		}
		if l, ok := lookalikes[r]; ok {
			r = l
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// lookalikes maps the letters of other scripts that look like a Latin
// letter in common fonts to it (after NFKD: an accented one is its base
// letter by then): the Cyrillic and Greek capitals and small letters
// drawn as Latin ones, and Latin's dotless i and j, alpha and script g.
// It is kept small on purpose: Unicode's confusables list has thousands,
// most of which no font draws as a Latin letter of a credential's name.
var lookalikes = map[rune]rune{
	// Cyrillic
	'А': 'a', 'В': 'b', 'Е': 'e', 'К': 'k', 'М': 'm', 'Н': 'h', 'О': 'o', 'Р': 'p', 'С': 'c', 'Т': 't', 'У': 'y', 'Х': 'x',
	'Ѕ': 's', 'І': 'i', 'Ј': 'j', 'Ԛ': 'q', 'Ԝ': 'w', 'Һ': 'h', 'Ӏ': 'l',
	'а': 'a', 'е': 'e', 'к': 'k', 'о': 'o', 'р': 'p', 'с': 'c', 'у': 'y', 'х': 'x',
	'ѕ': 's', 'і': 'i', 'ј': 'j', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'һ': 'h', 'ӏ': 'l',
	// Greek
	'Α': 'a', 'Β': 'b', 'Ε': 'e', 'Ζ': 'z', 'Η': 'h', 'Ι': 'i', 'Κ': 'k', 'Μ': 'm', 'Ν': 'n', 'Ο': 'o', 'Ρ': 'p', 'Τ': 't', 'Υ': 'y', 'Χ': 'x',
	'α': 'a', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x',
	// Armenian
	'օ': 'o', 'ս': 'u', 'հ': 'h', 'ո': 'n', 'ց': 'g', 'ք': 'p',
	// Latin
	'ı': 'i', 'ȷ': 'j', 'ɑ': 'a', 'ɡ': 'g',
	// Latin small capitals, which NFKD keeps (TestForeignCookieListsAndSpelledPasswordsRedacted)
	'ᴀ': 'a', 'ʙ': 'b', 'ᴄ': 'c', 'ᴅ': 'd', 'ᴇ': 'e', 'ɢ': 'g', 'ʜ': 'h', 'ɪ': 'i', 'ᴊ': 'j', 'ᴋ': 'k', 'ʟ': 'l', 'ᴍ': 'm',
	'ɴ': 'n', 'ᴏ': 'o', 'ᴘ': 'p', 'ʀ': 'r', 'ꜱ': 's', 'ᴛ': 't', 'ᴜ': 'u', 'ᴠ': 'v', 'ᴡ': 'w', 'ʏ': 'y', 'ᴢ': 'z',
}

// notNamePart reports whether c separates the parts of a key.
func notNamePart(c rune) bool {
	return !(c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || c >= 0x80)
}

// pairNameKey and pairValueKey report whether a map member's key is the
// name, or the value, of a pair as HTTP libraries and log shippers list
// headers: [{"name": "Authorization", "value": "..."}], or "key",
// "header" or "field" and "value", "val", or "values" for a header of
// several ({"header": "Cookie", "val": "..."} was stored as sent:
// TestForeignArrayPairsRedacted). A key outside ASCII is read as
// foldName reads it: "nаme", "kеy" and "vаlue" with a Cyrillic letter
// were read as other keys, the pair's value stored as sent
// (TestForeignLookalikePairKeysRedacted).
func pairNameKey(k []byte) bool {
	k = pairKeyFold(k)
	for _, w := range [...]string{"name", "key", "header", "field"} {
		if strings.EqualFold(string(k), w) {
			return true
		}
	}
	return false
}

func pairValueKey(k []byte) bool {
	k = pairKeyFold(k)
	for _, w := range [...]string{"value", "val", "values"} {
		if strings.EqualFold(string(k), w) {
			return true
		}
	}
	return false
}

// pairKeyFold returns k as foldName reads it when it holds a byte
// outside ASCII, else k (an ASCII key is compared in any case).
func pairKeyFold(k []byte) []byte {
	for _, c := range k {
		if c >= utf8.RuneSelf {
			return []byte(foldName(string(k)))
		}
	}
	return k
}

// redactAttributePair clears the value attributes (pairValueKey) of a
// record whose attributes are themselves a pair naming a credential, one
// record a header ({"name": "Cookie", "value": ...}): the pair was read
// inside a nested value only (credentialPair), and such a value was
// stored as sent (TestForeignRecordAttributesPairRedacted).
func (r *StoredRecord) redactAttributePair() {
	named := false
	for k, v := range r.Attributes {
		if pairNameKey([]byte(k)) && credentialKey(v) {
			named = true
			break
		}
	}
	if !named {
		return
	}
	for k, v := range r.Attributes {
		if v != "" && pairValueKey([]byte(k)) {
			r.Attributes[k] = Redacted
		}
	}
}
