package collector

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// TestForeignSessionIDWordsRedacted: a session's id of lower-case letters
// right after "session ID", "session id" or "sessionid" with no linking
// verb ("session ID hunter") was stored as sent: a name ending in an id
// was read by the rule of any credential's name, which clears only a word
// that reads as no word (secretLike), not by a session's.
func TestForeignSessionIDWordsRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "login with session ID sidhunter failed",
		attribute.String("app.a", "session id sidlower"),
		attribute.String("app.b", "the sessionid sidplain was sent"),
		attribute.String("app.c", "x-session-id sidheader"),
	)
	if want := "login with session ID " + Redacted + " failed"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	storeHoldsNone(t, dir, "sidhunter", "sidlower", "sidplain", "sidheader")
}

// TestForeignValueEndingAfterObjectParticleRedacted: a password after
// Japanese を or Korean 를, 을 with no particle of direction after it, the
// text ending there or at a space or a mark ("パスワードをhunter2",
// "비밀번호를hunter2。"), was stored as sent: only a value a particle of
// direction followed was read as one.
func TestForeignValueEndingAfterObjectParticleRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "パスワードをjaend9",
		attribute.String("app.a", "パスワードをjaspace9 です"),
		attribute.String("app.b", "비밀번호를koend9。"),
		attribute.String("app.c", "새 비밀번호을komark9, 확인"),
		attribute.String("app.d", "パスワードをjaonly9のみ"),
		attribute.String("app.e", "비밀번호를koonly9만"),
	)
	if want := "パスワードを" + Redacted; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	storeHoldsNone(t, dir, "jaend9", "jaspace9", "koend9", "komark9", "jaonly9", "koonly9")
}

// TestForeignCapitalisedWordsAfterTokenRedacted: a value written with a
// capital letter first and lower-case letters after it, right after a
// token's, a secret's, a session's or a cookie's name ("token Hunter"),
// was stored as sent: only a word of lower-case letters was read there.
// It is read as its lower-case form is: "token Expired." is kept.
func TestForeignCapitalisedWordsAfterTokenRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "login with token Tokencapword failed",
		attribute.String("app.a", "secret Secretcapword"),
		attribute.String("app.b", "session Sessioncapword"),
		attribute.String("app.c", "cookie Cookiecapword"),
		attribute.String("app.d", "session ID Sessionidcapword"),
	)
	if want := "login with token " + Redacted + " failed"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	storeHoldsNone(t, dir, "Tokencapword", "Secretcapword", "Sessioncapword", "Cookiecapword", "Sessionidcapword")
}

// harmlessWordTexts are texts the rules of the tests above must keep, and
// those the rules before them cleared: a thing of a token's (a UI's
// spinner) or a compound's second half ("cookie less"), a capitalised
// kept word after a token's name, a session id's own words, and an
// object particle whose ASCII a verb's word of the script follows.
var harmlessWordTexts = []string{
	"token spinner", "cookie less", "token spinner shown", "session less mode", "token free tier",
	"token Expired.", "token Expired", "Token Expired", "session Timeout", "token Refreshed", "secret Manager",
	"session ID rotated", "session id rotated", "sessionid cookie set", "session ID is required",
	"パスワードをSHA256でハッシュ", "パスワードをresetしました", "パスワードをreset",
}

// logLinesAfterPassphrase are a passphrase of several words and a log's
// next line starting with a capital, which was cleared with it: only the
// passphrase is.
var logLinesAfterPassphrase = map[string]string{
	"password: correct horse\nConnection refused":                 "password: " + Redacted + "\nConnection refused",
	"password: correct horse battery\nConnection refused by peer": "password: " + Redacted + "\nConnection refused by peer",
	"passphrase: violet kettle\nRetrying in 5s":                   "passphrase: " + Redacted + "\nRetrying in 5s",
	"password: red fox\nServer started":                           "password: " + Redacted + "\nServer started",
	"password: red fox\nDisk spun down":                           "password: " + Redacted + "\nDisk spun down",
	"password: red fox\nLink down":                                "password: " + Redacted + "\nLink down",
	"password: red fox\nWorker froze":                             "password: " + Redacted + "\nWorker froze",
}

// TestHarmlessWordTextsKept: harmlessWordTexts, posted by a foreign OTLP
// client over loopback, are stored as sent, and logLinesAfterPassphrase
// keep their log's line.
func TestHarmlessWordTextsKept(t *testing.T) {
	t.Parallel()
	want := map[string]string{}
	var attrs []attribute.KeyValue
	add := func(in, out string) {
		k := fmt.Sprintf("app.kept%d", len(attrs))
		want[k] = out
		attrs = append(attrs, attribute.String(k, in))
	}
	for _, v := range harmlessWordTexts {
		add(v, v)
	}
	for in, out := range logLinesAfterPassphrase {
		add(in, out)
	}
	got, _ := storeForeignTexts(t, "harmless", attrs...)
	for k, v := range want {
		if got.Attributes[k] != v {
			t.Errorf("%s stored as %q, want %q", k, got.Attributes[k], v)
		}
	}
}

// TestRedactWordEdges: the edges of the rules above, as RedactText reads
// them. A kept word of a token's after ':' or '=' is its value, as
// "password: none" is ("token: bucket"); with no separator it is prose
// ("token bucket"). A word meaning "secret" after a linking verb is the
// value, in Russian as in English ("пароль это тайна", "password is
// secret"): what says the password is confidential and what says it is
// that word are written alike. The ASCII after を/를 before で or だけ
// ending the phrase, or a Korean 예요, is the value ("パスワードをhunter2で");
// で before a word of the script is a means. A passphrase's next line with
// a word that only ends as a verb's form does or a preposition and no
// digit is the passphrase's ("Kettle boxed", "Lemur in kettle"); a log's
// verb or word, or a preposition with a digit, makes it a log's.
func TestRedactWordEdges(t *testing.T) {
	for in, want := range map[string]string{
		"token: bucket":                        "token: " + Redacted,
		"token = bucket":                       "token = " + Redacted,
		"secret: question":                     "secret: " + Redacted,
		"the token is: bucket":                 "the token is: " + Redacted,
		"token bucket":                         "token bucket",
		"password: none":                       "password: " + Redacted,
		"пароль это тайна":                     "пароль это " + Redacted,
		"password is secret":                   "password is " + Redacted,
		"token Hunter":                         "token " + Redacted,
		"token Hunter was sent":                "token " + Redacted + " was sent",
		"token. Expired sessions":              "token. Expired sessions",
		"session ID hunter":                    "session ID " + Redacted,
		"sessionid hunter":                     "sessionid " + Redacted,
		"パスワードをhunter2":                        "パスワードを" + Redacted,
		"パスワードをhunter2です":                      "パスワードを" + Redacted + "です",
		"パスワードをhunter2でハッシュ":                   "パスワードをhunter2でハッシュ",
		"パスワードをhunter2で":                       "パスワードを" + Redacted + "で",
		"パスワードをhunter2だけ":                      "パスワードを" + Redacted + "だけ",
		"パスワードをhunter2だけです":                    "パスワードを" + Redacted + "だけです",
		"パスワードをhunter2のみ":                      "パスワードを" + Redacted + "のみ",
		"パスワードをhunter2のみです":                    "パスワードを" + Redacted + "のみです",
		"パスワードをASCIIのみで作る":                     "パスワードをASCIIのみで作る",
		"비밀번호를hunter2만":                        "비밀번호를" + Redacted + "만",
		"비밀번호를hunter2만 사용":                     "비밀번호를" + Redacted + "만 사용",
		"パスワードをASCIIだけで作る":                     "パスワードをASCIIだけで作る",
		"비밀번호를hunter2예요":                       "비밀번호를" + Redacted + "예요",
		"비밀번호를hunter2이에요":                      "비밀번호를" + Redacted + "이에요",
		"password: a b\nCd ef":                 "password: " + Redacted,
		"password: a b\nDisk full":             "password: " + Redacted,
		"password: red fox\nBoxed kettle":      "password: " + Redacted,
		"password: red fox\nKettle boxed":      "password: " + Redacted,
		"password: red fox\nLemur in kettle":   "password: " + Redacted,
		"password: red fox\nRetrying in 5s":    "password: " + Redacted + "\nRetrying in 5s",
		"password: red fox\nTimeout after 30s": "password: " + Redacted + "\nTimeout after 30s",
		"password: red fox\nGoodbye":           "password: " + Redacted + "\nGoodbye",
		"password: red fox\nDisk parked":       "password: " + Redacted + "\nDisk parked",
		"password: red fox\nWorker stalling":   "password: " + Redacted + "\nWorker stalling",
		"password: red fox\nKettle went":       "password: " + Redacted,
		"password: red fox\nLemur froze":       "password: " + Redacted,
		"password: red fox\nKettle parked":     "password: " + Redacted,
	} {
		if got := RedactText(in); got != want {
			t.Errorf("RedactText(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestForeignValueBeforeCopulaRedacted: a password after Japanese を
// followed by a copula or a sentence's ending ("パスワードをhunter2です",
// "パスワードをhunter2だ") or Korean 를 followed by 입니다 was stored as sent:
// only a particle of direction, a space, a mark or the text's end after
// the value made it one. で alone (a means: "パスワードをSHA256でハッシュ") and
// だけ ("only") keep the ASCII the verb's.
func TestForeignValueBeforeCopulaRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "パスワードをjacopula9です",
		attribute.String("app.a", "パスワードをjapast9でした"),
		attribute.String("app.b", "パスワードをjaplain9だ"),
		attribute.String("app.c", "비밀번호를kocopula9입니다"),
		attribute.String("app.kept1", "パスワードをSHA256でハッシュ"),
		attribute.String("app.kept2", "パスワードをASCIIだけで作る"),
	)
	if want := "パスワードを" + Redacted + "です"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	for k, v := range map[string]string{"app.kept1": "パスワードをSHA256でハッシュ", "app.kept2": "パスワードをASCIIだけで作る"} {
		if got.Attributes[k] != v {
			t.Errorf("%s stored as %q, want %q", k, got.Attributes[k], v)
		}
	}
	storeHoldsNone(t, dir, "jacopula9", "japast9", "japlain9", "kocopula9")
}

// TestForeignPassphraseVerbLineRedacted: a passphrase of several words
// whose next line, starting with a capital, holds a word ending as a
// verb's form does as its first ("password: red fox\nBoxed kettle") had
// that line stored as sent, read as a log's. A log's line holds a log's
// verb ("Connection refused"), a level's word, a preposition with a
// digit or a pair: logLinesAfterPassphrase keep theirs.
func TestForeignPassphraseVerbLineRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "password: red fox\nBoxed kettlesecret",
		attribute.String("app.a", "passphrase: violet lemur\nJumping walrussecret"),
		attribute.String("app.b", "db.password = amber oyster\nTangled harpsecret"),
		attribute.String("app.kept1", "password: red fox\nStarting server"),
		attribute.String("app.kept2", "password: red fox\nError disk full"),
		attribute.String("app.kept3", "password: red fox\nRequest id=42"),
	)
	if want := "password: " + Redacted; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	for k, v := range map[string]string{
		"app.kept1": "password: " + Redacted + "\nStarting server",
		"app.kept2": "password: " + Redacted + "\nError disk full",
		"app.kept3": "password: " + Redacted + "\nRequest id=42",
	} {
		if got.Attributes[k] != v {
			t.Errorf("%s stored as %q, want %q", k, got.Attributes[k], v)
		}
	}
	storeHoldsNone(t, dir, "kettlesecret", "walrussecret", "harpsecret")
}
