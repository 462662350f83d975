package collector

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

// storeForeignTexts posts one record of a foreign OTLP client, whose
// body is body and whose attributes are attrs, to a collector storing in
// a new directory, and returns the record stored and the directory.
func storeForeignTexts(t *testing.T, body string, attrs ...attribute.KeyValue) (StoredRecord, string) {
	t.Helper()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.StringValue(body))
	rec.AddAttributes(attrs...)
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	return recs[0], dir
}

// TestForeignSecretsInProseRedacted: a secret written after its name with
// no '=' or ':' ("password hunter2", "password is hunter2", "token was
// ...") was stored as sent. The word after the name (or after "is",
// "was") is now cleared when it reads as no word; prose's words there
// are kept (harmlessTexts: "password is required", "token was revoked").
func TestForeignSecretsInProseRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "login failed: password is hunter2 for bob",
		attribute.String("app.a", "password hunter3"),
		attribute.String("app.b", "refresh token was abcdefGHIJ123456 at 12:00"),
		attribute.String("app.c", "using api_key 'quotedsecret' now"),
		attribute.String("app.d", "sent Authorization Negotiate YIIBnego"),
		attribute.String("app.e", "Passwort ist Geheim99!"),
		attribute.String("app.f", "pin 4711"),
		attribute.String("app.g", "the session ID is SessID77 and API key: apikeyspaced9"),
	)
	if want := "login failed: password is " + Redacted + " for bob"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	if want := "refresh token was " + Redacted + " at 12:00"; got.Attributes["app.b"] != want {
		t.Errorf("app.b stored as %q, want %q", got.Attributes["app.b"], want)
	}
	storeHoldsNone(t, dir, "hunter2", "hunter3", "abcdefGHIJ123456", "quotedsecret", "YIIBnego", "Geheim99", "4711", "SessID77", "apikeyspaced9")
}

// TestForeignSecretsFurtherInProseRedacted: a secret of lower-case
// letters after a linking verb ("password is hunter") was kept, taken for
// a word, and so was one further on in the sentence ("password for alice
// is hunter2", "the password you asked for: hunter2"). A word after "is"
// is now cleared unless it is one of keptWords; prose's are kept
// (harmlessTexts: "password is incorrect", "session timeout is 30m").
func TestForeignSecretsFurtherInProseRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "login failed: my password is letmeinlow for bob",
		attribute.String("app.a", "password is hunterlow"),
		attribute.String("app.b", "the api key is apilowkey"),
		attribute.String("app.c", "password for alice is aliceprose2"),
		attribute.String("app.d", "the password you asked for: askedfor9"),
		attribute.String("app.e", "token value is tokvalword"),
		attribute.String("app.f", "Passwort ist geheimwort"),
	)
	if want := "login failed: my password is " + Redacted + " for bob"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	if want := "the password you asked for: " + Redacted; got.Attributes["app.d"] != want {
		t.Errorf("app.d stored as %q, want %q", got.Attributes["app.d"], want)
	}
	storeHoldsNone(t, dir, "letmeinlow", "hunterlow", "apilowkey", "aliceprose2", "askedfor9", "tokvalword", "geheimwort")
}

// TestForeignEscapedQuotesRedacted: a value opened by a JSON-escaped
// quote (\u0022, \u0027, as an encoder that escapes quotes writes them),
// or starting with a \u escape, was stored as sent: the value ended at
// the backslash, empty.
func TestForeignEscapedQuotesRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, `login password=\u0022escquote-secret\u0022 user=bob`,
		attribute.String("app.a", `{\u0022token\u0022:\u0022escname-secret\u0022,\u0022n\u0022:1}`),
		attribute.String("app.b", `secret=\u0027single-secret\u0027`),
		attribute.String("app.c", `password=\u0068unter-escaped-secret next`),
		attribute.String("app.d", `{"password":"\u0068unter-json-secret"}`),
	)
	if want := `login password=\u0022` + Redacted + `\u0022 user=bob`; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	storeHoldsNone(t, dir, "escquote-secret", "escname-secret", "single-secret", "unter-escaped-secret", "unter-json-secret")
}

// TestForeignValueOnNextLineRedacted: a name and its separator ending a
// line, the value on the next ("password:\n  hunter2", a form or YAML
// dump), was stored as sent; many spaces and tabs were already passed.
func TestForeignValueOnNextLineRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "config:\n  password:\n    newline-secret\n  region: eu",
		attribute.String("app.a", "token:\r\ncrlf-secret"),
		attribute.String("app.b", "secret: \t  \t tabs-secret"),
		attribute.String("app.c", "password:\nregion: eu-west-1"),
	)
	if want := "config:\n  password:\n    " + Redacted + "\n  region: eu"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	if want := "password:\nregion: eu-west-1"; got.Attributes["app.c"] != want {
		t.Errorf("app.c stored as %q, want %q", got.Attributes["app.c"], want)
	}
	storeHoldsNone(t, dir, "newline-secret", "crlf-secret", "tabs-secret")
}

// TestForeignHTMLEscapedNamesRedacted: a name or a quote written as an
// HTML character reference (an HTML page logged, an HTML-escaped log
// line) was stored as sent: "&#112;assword=", "p&#x61;ssword=",
// "&quot;password&quot;: &quot;...&quot;".
func TestForeignHTMLEscapedNamesRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "form &#112;assword=decimal-ref-secret&amp;user=bob",
		attribute.String("app.a", "p&#x61;ssword: hex-ref-secret"),
		attribute.String("app.b", "{&quot;password&quot;: &quot;quot-ref-secret&quot;, &quot;user&quot;: &quot;bob&quot;}"),
		attribute.String("app.c", "&#x74;oken=&#34;num-quote-secret&#34;"),
	)
	if want := "form &#112;assword=" + Redacted + "&amp;user=bob"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	if want := "{&quot;password&quot;: &quot;" + Redacted + "&quot;, &quot;user&quot;: &quot;bob&quot;}"; got.Attributes["app.b"] != want {
		t.Errorf("app.b stored as %q, want %q", got.Attributes["app.b"], want)
	}
	storeHoldsNone(t, dir, "decimal-ref-secret", "hex-ref-secret", "quot-ref-secret", "num-quote-secret")
}

// TestForeignLookalikePairKeysRedacted: a pair whose "name", "key" or
// "value" member is spelt with a lookalike letter (a Cyrillic а or е)
// was read as no pair, its value stored as sent: in a map, in a list of
// maps, and as a record's attributes.
func TestForeignLookalikePairKeysRedacted(t *testing.T) {
	t.Parallel()
	_, dir := storeForeignTexts(t, "headers",
		attribute.Map("app.header", attribute.String("nаme", "password"), attribute.String("value", "cyr-name-secret")), // U+0430
		attribute.Slice("app.headers", attribute.MapValue(attribute.String("kеy", "Cookie"), attribute.String("vаlue", "cyr-key-secret"))),
		attribute.String("kеy", "Authorization"), // U+0435
		attribute.String("vаlue", "cyr-attr-secret"),
	)
	storeHoldsNone(t, dir, "cyr-name-secret", "cyr-key-secret", "cyr-attr-secret")
}

// TestForeignJoinedSetCookiesRedacted: Set-Cookie headers joined by
// commas into one line (as client libraries fold them) had the first
// cookie's value cleared and the others' stored as sent; an Expires
// date's comma joins no cookie.
func TestForeignJoinedSetCookiesRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "Set-Cookie: a=first-secret; Path=/, b=second-secret; HttpOnly",
		attribute.String("app.a", "set-cookie: theme=x; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/, remember=expires-secret; Max-Age=60, c=\"quoted-cookie-secret\""),
	)
	if want := "Set-Cookie: " + Redacted + "; Path=/, b=" + Redacted + "; HttpOnly"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	if !strings.Contains(got.Attributes["app.a"], "Expires=Wed, 21 Oct 2015 07:28:00 GMT; Path=/") {
		t.Errorf("app.a stored as %q, want its Expires kept", got.Attributes["app.a"])
	}
	storeHoldsNone(t, dir, "first-secret", "second-secret", "expires-secret", "quoted-cookie-secret")
}

// TestForeignNamesInOtherLanguagesRedacted: a password named in German,
// French, Spanish, Portuguese, Dutch, the Nordic languages or Turkish
// was stored as sent, as a key and in a text.
func TestForeignNamesInOtherLanguagesRedacted(t *testing.T) {
	t.Parallel()
	_, dir := storeForeignTexts(t, "login Passwort=de-secret Kennwort: de2-secret mot de passe: fr-secret mdp=fr2-secret",
		attribute.String("app.es", "contraseña=es-secret clave: es2-secret"),
		attribute.String("app.pt", `{"senha": "pt-secret"}`),
		attribute.String("app.nl", "wachtwoord=nl-secret lösenord=sv-secret passord=no-secret adgangskode=da-secret salasana=fi-secret şifre=tr-secret"),
		attribute.String("user.Kennwort", "de-key-secret"),
		attribute.String("mot_de_passe", "fr-key-secret"),
		attribute.String("db.contrasena", "es-key-secret"),
		attribute.String("app.senha", "pt-key-secret"),
	)
	storeHoldsNone(t, dir, "de-secret", "de2-secret", "fr-secret", "fr2-secret", "es-secret", "es2-secret", "pt-secret",
		"nl-secret", "sv-secret", "no-secret", "da-secret", "fi-secret", "tr-secret", "de-key-secret", "fr-key-secret", "es-key-secret", "pt-key-secret")
}

// TestRedactTextEdges: the edges of the rules above, as redactText reads
// them.
func TestRedactTextEdges(t *testing.T) {
	for in, want := range map[string]string{
		"password:\n":               "password:\n",
		"password:\r\n\r\nx1":       "password:\r\n\r\nx1",
		"Set-Cookie: a=1;":          "Set-Cookie: " + Redacted + ";",
		"Set-Cookie: a=1; Path=/,":  "Set-Cookie: " + Redacted + "; Path=/,",
		"Set-Cookie: a=1, b=2, c=3": "Set-Cookie: " + Redacted + ", b=" + Redacted + ", c=" + Redacted,
		"Set-Cookie: a=1; Expires=Wed, 21-Oct-2015 07:28:00, b=2": "Set-Cookie: " + Redacted + "; Expires=Wed, 21-Oct-2015 07:28:00, b=2",
		`password=\u0026x`:                                 `password=\u0026x`,
		`password=\u00`:                                    `password=\u00`,
		"&#99999999999;assword=x1":                         "&#99999999999;assword=x1",
		"&#;password=x1":                                   "&#;password=" + Redacted,
		"p&#x61;ssword":                                    "p&#x61;ssword",
		"password &quot;unclosed":                          "password &quot;unclosed",
		"password 'x y' kept":                              "password '" + Redacted + "' kept",
		"password abc== next":                              "password " + Redacted + " next",
		"token user=bob":                                   "token user=bob",
		"password is":                                      "password is",
		"password is Hunter2.":                             "password is " + Redacted + ".",
		"secret Negotiate":                                 "secret Negotiate",
		"api_key is " + Redacted + " now":                  "api_key is " + Redacted + " now",
		"token abcdefghijklmnopqrstuvwxyz ok":              "token " + Redacted + " ok",
		"db.password = p@ss:word!":                         "db.password = " + Redacted,
		"password : x1 y":                                  "password : " + Redacted,
		"password (hidden) -- see docs":                    "password (hidden) -- see docs",
		"mot de passe est Secret9 ici":                     "mot de passe est " + Redacted + " ici",
		"Das Passwort lautet Sommer2024":                   "Das Passwort lautet " + Redacted,
		"Die PIN lautet 4821":                              "Die PIN lautet " + Redacted,
		"A senha é sol2024":                                "A senha é " + Redacted,
		"A senha é obrigatória":                            "A senha é obrigatória",
		"le mot de passe doit contenir 12 caractères":      "le mot de passe doit contenir 12 caractères",
		"la politique de mot de passe exige 12 caractères": "la politique de mot de passe exige 12 caractères",
		"La contraseña debe tener 12 caracteres":           "La contraseña debe tener 12 caracteres",
		"política de contraseñas actualizada":              "política de contraseñas actualizada",
		"contraseña sol2024":                               "contraseña " + Redacted,
		"set the password to hunter2 please":               "set the password to " + Redacted + " please",
		"I changed my password to autumn":                  "I changed my password to " + Redacted,
		"changed the PIN to 4821":                          "changed the PIN to " + Redacted,
		"reset the root password to the old one":           "reset the root password to the old one",
		"password to unlock the vault":                     "password to unlock the vault",
		"set the token to expire":                          "set the token to expire",
		"set the password to something stronger":           "set the password to something stronger",
		"PIN for the office safe is 4821":                  "PIN for the office safe is " + Redacted,
		"password for the new staging db is Xy7pq":         "password for the new staging db is " + Redacted,
		"the root pw is Tr0ub4dor":                         "the root pw is " + Redacted,
		"pw: Tr0ub4dor":                                    "pw: " + Redacted,
		"pwm=40 pwa: yes":                                  "pwm=40 pwa: yes",
		"hasło: Lato2024":                                  "hasło: " + Redacted,
		"Hasło jest Lato2024":                              "Hasło jest " + Redacted,
		"the old password was reused":                      "the old password was reused",
		// a value on the next line, unless that line starts a sentence
		// (sentenceStart); a capital alone is no sentence
		"Password:\nHunter2":                    "Password:\n" + Redacted,
		"Password:\nThe":                        "Password:\n" + Redacted,
		"Password:\nCorrect horse battery":      "Password:\n" + Redacted,
		"Password:\nThe user logged in":         "Password:\nThe user logged in",
		"token 3 of 5":                          "token 3 of 5",
		"token 3 of x":                          "token " + Redacted + " of x",
		"password 'RESET'":                      "password 'RESET'",
		"password 'hunter'":                     "password '" + Redacted + "'",
		"password is hunter":                    "password is " + Redacted,
		"password is Required":                  "password is Required",
		"password is =":                         "password is =",
		"session timeout is 30m":                "session timeout is 30m",
		"password reset: sent":                  "password reset: sent",
		"password for bob, alice is x1":         "password for bob, alice is x1",
		"密码是必填的":                                "密码是必填的",
		"密码是" + Redacted:                        "密码是" + Redacted,
		"password&#61;" + Redacted + "&amp;x=1": "password&#61;" + Redacted + "&amp;x=1",
	} {
		if got := redactText(in); got != want {
			t.Errorf("redactText(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRedactText: redactText takes any text without panicking, and a
// secret that reads as no word, after "password=", "password " or
// "password:" and a line break, and before a space, is not in what it
// returns, whatever follows.
func FuzzRedactText(f *testing.F) {
	for _, s := range append([]string{"password hunter2", "Set-Cookie: a=1; Path=/, b=2", "&#112;assword=x",
		`password=\u0022x\u0022`, "password:\r\n x"}, harmlessTexts...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		redactText(s)
		for _, sep := range []string{"=", " ", ":\n"} {
			if got := redactText("password" + sep + "Zq9 " + s); strings.Contains(got, "Zq9") {
				t.Errorf("redactText(%q) = %q", "password"+sep+"Zq9 "+s, got)
			}
		}
	})
}
