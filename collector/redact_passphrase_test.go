package collector

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// TestForeignSecretsPastRelativeClauseRedacted: a secret after a linking
// verb further along the sentence, a relative clause with a verb of its
// own between ("the token that was issued is abc"), was stored as sent:
// the reading stopped at the clause's verb and its kept word ("issued").
func TestForeignSecretsPastRelativeClauseRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "the token that was issued is relclauseabc",
		attribute.String("app.a", "the password you were given is givenword"),
		attribute.String("app.b", "the api key which was just created is createdkey for bob"),
	)
	if want := "the token that was issued is " + Redacted; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	if want := "the api key which was just created is " + Redacted + " for bob"; got.Attributes["app.b"] != want {
		t.Errorf("app.b stored as %q, want %q", got.Attributes["app.b"], want)
	}
	storeHoldsNone(t, dir, "relclauseabc", "givenword", "createdkey")
}

// TestForeignScriptSecretsAfterLinkingVerbRedacted: a secret word in a
// script other than Latin after a Latin linking verb ("password is
// секретик", "password is 秘密の言葉") was stored as sent: only a word
// holding an ASCII letter or digit was taken for one.
func TestForeignScriptSecretsAfterLinkingVerbRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "login failed: password is секретик for bob",
		attribute.String("app.a", "password is 秘密の言葉"),
		attribute.String("app.b", "the token was 長い合言葉 today"),
		attribute.String("app.c", "Passwort ist γεμάτοςκρυφός"),
	)
	if want := "login failed: password is " + Redacted + " for bob"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	storeHoldsNone(t, dir, "секретик", "秘密の言葉", "長い合言葉", "γεμάτοςκρυφός")
}

// TestForeignSecretsAttachedToScriptNamesRedacted: a secret written
// right after a password's name in a script other than Latin, with no
// separator, after a particle or a linking verb of that script
// ("비밀번호는hunter2", "รหัสผ่านคือ...") or none ("비밀번호hunter2",
// "парольhunter2"), was stored as sent outside Chinese and Japanese; so
// was a word of lower-case letters after such a particle and a space
// ("비밀번호는 hunter").
func TestForeignSecretsAttachedToScriptNamesRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "로그인 실패: 비밀번호는kohunter2입니다",
		attribute.String("app.ko", "비밀번호가 kolowerword 새비밀번호koattached9"),
		attribute.String("app.th", "รหัสผ่านคือthsecret9"),
		attribute.String("app.th2", "รหัสผ่านthattached9"),
		attribute.String("app.ru", "парольruattached9"),
		attribute.String("app.ru2", "ПАРОЛЬruupper9"),
		attribute.String("app.hi", "पासवर्डhiattached9"),
		attribute.String("app.he", "הסיסמהheattached9"),
		attribute.String("app.el", "κωδικόςelattached9"),
		attribute.String("app.zh", "密码zhattached9"),
		attribute.String("app.ar", "كلمة المرورarattached9"),
	)
	if want := "로그인 실패: 비밀번호는" + Redacted + "입니다"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	storeHoldsNone(t, dir, "kohunter2", "kolowerword", "koattached9", "thsecret9", "thattached9", "ruattached9", "ruupper9",
		"hiattached9", "heattached9", "elattached9", "zhattached9", "arattached9")
}

// TestForeignPasswordWordAndPassphraseRedacted: a password of lower-case
// letters right after its name with no verb ("password hunter") was
// stored as sent, taken for a word; so were a passphrase's words after
// its first, after "password:" on the same line, on the next line after
// "Password:", and on the line after, continuing it.
func TestForeignPasswordWordAndPassphraseRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "login with password hunterword failed",
		attribute.String("app.a", "password: correct horse battery staple"),
		attribute.String("app.b", "Password:\ncorrect pony battery stapler"),
		attribute.String("app.c", "password: tangerine oyster\nlampshade velvet"),
		attribute.String("app.d", "config:\n  passphrase: violet kettle\n    marble anchor\n  region: eu"),
		attribute.String("app.e", "db.password = plum orchard rain host = db"),
		attribute.String("app.f", "Passwort geheimwort"),
		attribute.String("app.g", "alertmanager:DBPassword password quokkasecret"),
	)
	if want := "login with password " + Redacted + " failed"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	if want := "config:\n  passphrase: " + Redacted + "\n  region: eu"; got.Attributes["app.d"] != want {
		t.Errorf("app.d stored as %q, want %q", got.Attributes["app.d"], want)
	}
	if want := "db.password = " + Redacted + " host = db"; got.Attributes["app.e"] != want {
		t.Errorf("app.e stored as %q, want %q", got.Attributes["app.e"], want)
	}
	storeHoldsNone(t, dir, "hunterword", "horse", "battery", "staple", "pony", "stapler", "tangerine", "oyster", "lampshade",
		"velvet", "violet", "kettle", "marble", "anchor", "plum", "orchard", "rain", "geheimwort", "quokkasecret")
}

// harmlessPhrases are texts the rules of TestForeignPasswordWordAndPassphraseRedacted
// and the tests above must keep: a word after a password's name that
// names a thing of the password's (its policy, hash, manager, an
// authentication by it), a modal or a conjunction, a relative clause
// whose sentence ends in a kept word, a word of the name's own script
// after a name or particle in another script, a kept word after one,
// and a pair's value that ends at the next pair or at a sentence on the
// next line.
var harmlessPhrases = []string{
	"password authentication failed for user bob", "Failed password for root from 10.0.0.1 port 22 ssh2",
	"password policy updated by admin", "password must be at least 8 characters", "password change requested by bob",
	"password does not match", "password and username do not match", "password hash mismatch", "password manager unlocked",
	"password expires in 3 days", "password attempts exceeded", "Passwort vergessen", "mot de passe oublié",
	"the token that was issued is valid for 1h", "the password that was set is not correct",
	"пароль неверный", "비밀번호가 틀렸습니다", "비밀번호 reset 요청", "パスワードはOKです", "密码是必填的",
	"password-protected file", "passwords do not match", "token expired",
}

// TestHarmlessPassphraseTextsKept: harmlessPhrases, posted by a foreign
// OTLP client over loopback, are stored as sent.
func TestHarmlessPassphraseTextsKept(t *testing.T) {
	t.Parallel()
	var attrs []attribute.KeyValue
	for i, v := range harmlessPhrases {
		attrs = append(attrs, attribute.String(fmt.Sprintf("app.phrase%d", i), v))
	}
	got, _ := storeForeignTexts(t, "harmless", attrs...)
	for i, v := range harmlessPhrases {
		if k := fmt.Sprintf("app.phrase%d", i); got.Attributes[k] != v {
			t.Errorf("%q stored as %q", v, got.Attributes[k])
		}
	}
}

// TestRedactPassphraseEdges: the edges of the rules above, as redactText
// reads them.
func TestRedactPassphraseEdges(t *testing.T) {
	for in, want := range map[string]string{
		"password: hunter2, user: bob":              "password: " + Redacted + ", user: bob",
		"password: hunter2 (from env)":              "password: " + Redacted + " (from env)",
		"PASSWORD: correct horse. Next step":        "PASSWORD: " + Redacted + ". Next step",
		"password: x1\nThe job finished":            "password: " + Redacted + "\nThe job finished",
		"password: x1\nconnection refused\nok":      "password: " + Redacted + "\nok",
		"password: a\n\n  b":                        "password: " + Redacted + "\n\n  b",
		"password=x1 rejected":                      "password=" + Redacted + " rejected",
		"password is":                               "password is",
		"password 2 of 3":                           "password 2 of 3",
		"token hunter":                              "token " + Redacted,
		"пароль hunter":                             "пароль " + Redacted,
		"密码API失败":                                   "密码" + Redacted + "失败",
		"비밀번호:x1":                                   "비밀번호:" + Redacted,
		"password is —":                             "password is —",
		"the token that was issued yesterday is x1": "the token that was issued yesterday is " + Redacted,
		// one line after a passphrase's at most, and no stack frame
		"passphrase: a1 b\n  c d\n  e f":                 "passphrase: " + Redacted + "\n  e f",
		"password: x1\n\tat com.example.Foo(Foo.java:1)": "password: " + Redacted + "\n\tat com.example.Foo(Foo.java:1)",
		"password: x1\n- item":                           "password: " + Redacted + "\n- item",
		"password successfully changed":                  "password successfully changed",
		"password via ldap":                              "password via ldap",
		// a credential's name taken as the value of the one before
		"alertmanager:DBPassword password hunter2": "alertmanager:DBPassword " + Redacted + " " + Redacted,
		"password password":                        "password " + Redacted,
	} {
		if got := redactText(in); got != want {
			t.Errorf("redactText(%q) = %q, want %q", in, got, want)
		}
	}
}
