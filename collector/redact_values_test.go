package collector

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// TestForeignTokenAndSecretWordsRedacted: a secret of lower-case letters
// right after a token's or a secret's name with no linking verb ("token
// hunter", "client_secret hunter") was stored as sent: only a password's
// name cleared such a word, and after any other name only a word that
// reads as no word (secretLike) was cleared.
func TestForeignTokenAndSecretWordsRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "login with token tokenhunter failed",
		attribute.String("app.a", "secret secrethunter"),
		attribute.String("app.b", "the client_secret clientsecretword was sent"),
		attribute.String("app.c", "Bearer token bearerword"),
	)
	if want := "login with token " + Redacted + " failed"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	storeHoldsNone(t, dir, "tokenhunter", "secrethunter", "clientsecretword", "bearerword")
}

// TestForeignKeptWordAfterSeparatorRedacted: a password that is one of
// the words kept in prose after a linking verb ("reset", "policy",
// "none"), written after a ':' that ends a sentence's words or a linking
// verb ("the password you asked for: reset", "the password is: none"),
// was stored as sent: the ':' was read as the verb is, and a kept word
// after it taken for prose. A ':' or '=' makes the word a value.
func TestForeignKeptWordAfterSeparatorRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "the password you asked for: reset",
		attribute.String("app.a", "the password is: none"),
		attribute.String("app.b", "the api key was: valid"),
		attribute.String("app.c", "password for bob: required"),
	)
	if want := "the password you asked for: " + Redacted; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	for k, want := range map[string]string{
		"app.a": "the password is: " + Redacted,
		"app.b": "the api key was: " + Redacted,
		"app.c": "password for bob: " + Redacted,
	} {
		if got.Attributes[k] != want {
			t.Errorf("%s stored as %q, want %q", k, got.Attributes[k], want)
		}
	}
	storeHoldsNone(t, dir)
}

// TestForeignScriptWordAfterScriptVerbRedacted: a secret written in a
// script other than Latin after a linking verb of that script ("пароль
// это секрет", Greek "είναι", Hebrew "היא", Arabic "هي") was stored as
// sent: after such a verb only a word holding an ASCII letter or digit
// was taken for one, the script's own words all read as prose.
func TestForeignScriptWordAfterScriptVerbRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "пароль это секретик",
		attribute.String("app.dash", "Пароль — это солнцеворот"),
		attribute.String("app.el", "ο κωδικός είναι μυστικόλεξο"),
		attribute.String("app.he", "הסיסמה היא סודיסוד"),
		attribute.String("app.ar", "كلمة السر هي سرسري"),
	)
	if want := "пароль это " + Redacted; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	storeHoldsNone(t, dir, "секретик", "солнцеворот", "μυστικόλεξο", "סודיסוד", "سرسري")
}

// TestForeignValueAfterObjectParticleRedacted: a password set to a
// value after Japanese を or Korean 를, 을 ("パスワードをhunter2に変更",
// change the password to hunter2) was stored as sent: the particles
// read were those of "is" only.
func TestForeignValueAfterObjectParticleRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "パスワードをjahunter2に変更しました",
		attribute.String("app.ja", "パスワードを jaspaced9 に設定"),
		attribute.String("app.ko", "비밀번호를 kohunter9로 변경"),
		attribute.String("app.ko2", "새 비밀번호을kohunter8으로 설정"),
	)
	if want := "パスワードを" + Redacted + "に変更しました"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	storeHoldsNone(t, dir, "jahunter2", "jaspaced9", "kohunter9", "kohunter8")
}

// TestForeignPassphraseCapitalLineRedacted: a passphrase of several words
// going on on the next line, that line starting with a capital letter or
// a digit and indented no deeper than its name's ("password: correct
// horse\nBattery staple"), kept that line as sent: only a line starting
// with a lower-case letter was read as the passphrase's.
func TestForeignPassphraseCapitalLineRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "password: correct horse\nBattery staple",
		attribute.String("app.a", "passphrase: violet kettle\n9lives marble"),
	)
	if want := "password: " + Redacted; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	storeHoldsNone(t, dir, "horse", "Battery", "staple", "kettle", "9lives", "marble")
}

// harmlessValueTexts are texts the rules of the tests above must keep:
// a word after a token's or a secret's name that is a thing of it, a
// status or a verb's form; a word of another script after its linking
// verb that is a status or an adjective; an object particle not followed
// by a value and a particle of direction.
var harmlessValueTexts = []string{
	"token expired", "secret manager", "token bucket", "secret rotation scheduled", "token refresh failed",
	"token endpoint returned 500", "secret store unavailable", "token signature invalid", "secret scanning found nothing",
	"token exchange succeeded", "access token issued", "client secret rotated", "token introspection disabled",
	"secret question answered", "token validation failed for bob", "token audience mismatch",
	"token hunted", "secret is out", "token for bob is valid", "token lookup failed", "token embeddings cached",
	"token revoke requested", "token vs key",
	"пароль это неверный", "пароль это обязательное поле", "пароль это не секрет", "ο κωδικός είναι λάθος",
	"הסיסמה היא שגויה", "كلمة السر هي خاطئة",
	"パスワードをリセット", "パスワードをresetしました", "パスワードをSHA256でハッシュ", "비밀번호를 변경했습니다",
	"password policy updated", "password is reset",
}

// TestHarmlessValueTextsKept: harmlessValueTexts, posted by a foreign
// OTLP client over loopback, are stored as sent.
func TestHarmlessValueTextsKept(t *testing.T) {
	t.Parallel()
	var attrs []attribute.KeyValue
	for i, v := range harmlessValueTexts {
		attrs = append(attrs, attribute.String(fmt.Sprintf("app.kept%d", i), v))
	}
	got, _ := storeForeignTexts(t, "harmless", attrs...)
	for i, v := range harmlessValueTexts {
		if k := fmt.Sprintf("app.kept%d", i); got.Attributes[k] != v {
			t.Errorf("%q stored as %q", v, got.Attributes[k])
		}
	}
}

// TestRedactValueEdges: the edges of the rules above, as RedactText
// reads them.
func TestRedactValueEdges(t *testing.T) {
	for in, want := range map[string]string{
		"token hunter":            "token " + Redacted,
		"secret hunter":           "secret " + Redacted,
		"token 3 of 5":            "token 3 of 5",
		"token Expired":           "token Expired",
		"token (hidden)":          "token (hidden)",
		"password: policy":        "password: " + Redacted,
		"password = reset":        "password = " + Redacted,
		"password policy":         "password policy",
		"password :policy":        "password :" + Redacted,
		"password is: (hidden)":   "password is: (hidden)",
		"the password was: reset": "the password was: " + Redacted,
		"password reset: sent":    "password reset: sent",
		"пароль это секрет":       "пароль это " + Redacted,
		"пароль это":              "пароль это",
		"пароль это слишком короткий":             "пароль это слишком короткий",
		"パスワードをhunter2に変更":                        "パスワードを" + Redacted + "に変更",
		"パスワードをhunter2":                           "パスワードを" + Redacted,
		"password: a b\nC":                        "password: " + Redacted,
		"password: ab\nCd ef":                     "password: " + Redacted + "\nCd ef",
		"password: x1\nConnection refused":        "password: " + Redacted + "\nConnection refused",
		"password: a b\nERROR db down":            "password: " + Redacted + "\nERROR db down",
		"password: a b\n2026-01-02 12:00:00 next": "password: " + Redacted + "\n2026-01-02 12:00:00 next",
		"password: a b\nThe job finished":         "password: " + Redacted + "\nThe job finished",
		"password: a b\nGET /x":                   "password: " + Redacted + "\nGET /x",
		"password: a b\n12:00 x":                  "password: " + Redacted + "\n12:00 x",
		"password: a b\n\tat com.x.Y(Y.java)":     "password: " + Redacted + "\n\tat com.x.Y(Y.java)",
	} {
		if got := RedactText(in); got != want {
			t.Errorf("RedactText(%q) = %q, want %q", in, got, want)
		}
	}
}
