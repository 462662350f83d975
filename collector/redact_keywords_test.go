package collector

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// TestForeignKeyNameWordsRedacted: a value of lower-case letters right
// after a CSRF token's, an API key's, a session id's or a bearer token's
// name with no linking verb ("csrf hunter", "api_key hunter", "sid
// hunter", "bearer hunter") was stored as sent: such a name was read by
// the rule of any credential's name, which clears only a word that reads
// as no word (secretLike).
func TestForeignKeyNameWordsRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "login with csrf hunterone failed",
		attribute.String("app.a", "api_key huntertwo"),
		attribute.String("app.b", "the apikey hunterthree was sent"),
		attribute.String("app.c", "API key hunterfour"),
		attribute.String("app.d", "sid sidword"),
		attribute.String("app.e", "connect.sid connectsidword"),
		attribute.String("app.f", "bearer huntsix"),
		attribute.String("app.g", "x-xsrf Hunterfive"),
		attribute.String("app.h", "otp otpword"),
		attribute.String("app.i", "pin pinword"),
		attribute.String("app.j", "jwt jwtword"),
		attribute.String("app.k", "tokens tokensword"),
		attribute.String("app.l", "enter the TOTP totpword now"),
	)
	if want := "login with csrf " + Redacted + " failed"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	storeHoldsNone(t, dir, "hunterone", "huntertwo", "hunterthree", "hunterfour", "sidword", "connectsidword",
		"huntsix", "Hunterfive", "otpword", "pinword", "jwtword", "tokensword", "totpword")
}

// harmlessKeyTexts are texts the rule above must keep: a status, a thing
// of the key's or what it does, a credential's name after it ("csrf
// token missing", "bearer token expired"), and a word after a name the
// rule does not read ("auth failed": auth names no credential).
var harmlessKeyTexts = []string{
	"csrf token missing", "csrf check failed", "sid mismatch", "api_key missing", "api key expired", "auth failed",
	"bearer realm", "Bearer realm", "CSRF verification failed", "csrf cookie not set", "CSRF token mismatch",
	"csrf protection enabled", "csrf exempt", "api key revoked", "API key quota exceeded", "api_key param missing",
	"x-api-key header missing", "bearer token expired", "bearer tokens only", "bearer auth enabled", "sid cookie set",
	"SID lookup failed", "api key permissions updated", "api key owner bob", "api key lacks scope", "api key not found",
	"invalid api key", "apikey rotation scheduled", "sid differs", "api key belongs to bob", "csrf secret rotated",
	"the bearer of the token", "api key tier", "xsrf header set",
}

// harmlessShortNameTexts are texts the rules of a one-time code's, a
// PIN's, a JWT's and "tokens"' words must keep (a thing of theirs, a
// version pin, a count of tokens), and a private key's adjective and an
// Oracle SID, which were cleared.
var harmlessShortNameTexts = []string{
	"private key unreadable", "private key inaccessible", "Oracle SID orcl", "SID orcl", "connect to SID orcl failed",
	"pin the version", "pinned", "PIN pad", "pin pad", "pin entry", "pin code required", "PIN number", "pin it",
	"pin them", "pin down", "pin numpy to 1.24", "pin openssl at 3.0", "otp sent", "otp code expired", "otp via sms",
	"otp app", "OTP resend", "otp verification failed", "TOTP seed rotated", "jwt expired", "jwt library",
	"jwt verification failed", "JWT claims", "jwt decode", "tokens used", "tokens 1500", "tokens 1,500",
	"tokens per second", "tokens remaining", "input tokens 1200", "tokens left", "max tokens 4096", "tokens total",
	"private key corrupt", "otp code sent", "pin code is required",
}

// TestHarmlessKeyTextsKept: harmlessKeyTexts and harmlessShortNameTexts,
// posted by a foreign OTLP client over loopback, are stored as sent.
func TestHarmlessKeyTextsKept(t *testing.T) {
	t.Parallel()
	for _, texts := range [][]string{harmlessKeyTexts, harmlessShortNameTexts} {
		var attrs []attribute.KeyValue
		for i, v := range texts {
			attrs = append(attrs, attribute.String(fmt.Sprintf("app.kept%d", i), v))
		}
		got, _ := storeForeignTexts(t, "harmless", attrs...)
		for i, v := range texts {
			if k := fmt.Sprintf("app.kept%d", i); got.Attributes[k] != v {
				t.Errorf("%q stored as %q", v, got.Attributes[k])
			}
		}
	}
}

// TestRedactKeyWordEdges: the edges of the key's rule, as RedactText
// reads them. A credential's name after the name is read as a name, and
// the word after it judged ("csrf token hunter"); "sid" and "bearer" are
// read as whole words only ("xsid hunter" names nothing). A credential's,
// a private key's, "pwd", Authorization, "auth" alone and a plural of a
// name are read by the key's rule ("credential hunter" was kept); "auth"
// in a longer name is none ("auth_time hunter"). "token Balance", "Oracle
// SID orcl" and "bearer bonds" were cleared.
func TestRedactKeyWordEdges(t *testing.T) {
	for in, want := range map[string]string{
		"csrf hunter":                          "csrf " + Redacted,
		"csrf token hunter":                    "csrf token " + Redacted,
		"Bearer hunter":                        "Bearer " + Redacted,
		"api key Hunter":                       "api key " + Redacted,
		"api_key 3 of 5":                       "api_key 3 of 5",
		"sid is hunter":                        "sid is " + Redacted,
		"sid hunter2":                          "sid " + Redacted,
		"xsid hunter":                          "xsid hunter",
		"csrf Missing.":                        "csrf Missing.",
		"api keys hunter":                      "api keys " + Redacted,
		"credential hunter":                    "credential " + Redacted,
		"private key hunter":                   "private key " + Redacted,
		"pwd hunter":                           "pwd " + Redacted,
		"Authorization hunter":                 "Authorization " + Redacted,
		"auth hunter":                          "auth " + Redacted,
		"AUTH hunter2":                         "AUTH " + Redacted,
		"auth_time hunter":                     "auth_time hunter",
		"oauth hunter":                         "oauth hunter",
		"passwords hunter":                     "passwords " + Redacted,
		"passwords hunter2":                    "passwords " + Redacted,
		"passwords stored":                     "passwords stored",
		"token Balance":                        "token Balance",
		"Oracle SID orcl":                      "Oracle SID orcl",
		"Oracle SID is orcl":                   "Oracle SID is " + Redacted,
		"SID orcl":                             "SID orcl",
		"SID hunter2":                          "SID " + Redacted,
		"sid orcl":                             "sid " + Redacted,
		"otp hunter":                           "otp " + Redacted,
		"OTP hunter":                           "OTP " + Redacted,
		"pin hunter":                           "pin " + Redacted,
		"PIN hunter":                           "PIN " + Redacted,
		"pin 1234":                             "pin " + Redacted,
		"jwt hunter":                           "jwt " + Redacted,
		"x-otp hunter":                         "x-otp " + Redacted,
		"tokens hunter":                        "tokens " + Redacted,
		"tokens hunter2":                       "tokens " + Redacted,
		"tokens 1500":                          "tokens 1500",
		"input_tokens 1500":                    "input_tokens 1500",
		"pin hunter to unlock":                 "pin " + Redacted + " to unlock",
		"pin numpy to 1.24":                    "pin numpy to 1.24",
		"pinned hunter":                        "pinned hunter",
		"spin hunter":                          "spin hunter",
		"private key unusable":                 "private key unusable",
		"the otp code is 123456":               "the otp code is " + Redacted,
		"PIN number is 1234":                   "PIN number is " + Redacted,
		"pin code 1234":                        "pin code " + Redacted,
		"otp code 123456":                      "otp code " + Redacted,
		"error code 1234":                      "error code 1234",
		"bearer bonds":                         "bearer bonds",
		"x-api-key hunter":                     "x-api-key " + Redacted,
		"connect.sid hunter":                   "connect.sid " + Redacted,
		"we should pin numpy":                  "we should pin numpy",
		"to pin openssl":                       "to pin openssl",
		"you can pin hunter2":                  "you can pin " + Redacted,
		"your pin hunter":                      "your pin " + Redacted,
		"GPIO pin 13":                          "GPIO pin 13",
		"connect it to pin 7":                  "connect it to pin 7",
		"pin 4821":                             "pin " + Redacted,
		"card PIN 0042":                        "card PIN " + Redacted,
		"private key broken":                   "private key broken",
		"private key stolen":                   "private key stolen",
		"token hunter went":                    "token " + Redacted + " went",
		"otp_seed hunter":                      "otp_seed " + Redacted,
		"totp-seed hunter":                     "totp-seed " + Redacted,
		"otp seed hunter":                      "otp seed " + Redacted,
		"TOTP seed JBSWY3DPEHPK3PXP for admin": "TOTP seed " + Redacted + " for admin",
		"TOTP seed rotated":                    "TOTP seed rotated",
		"random seed 42":                       "random seed 42",
	} {
		if got := RedactText(in); got != want {
			t.Errorf("RedactText(%q) = %q, want %q", in, got, want)
		}
	}
}
