package collector

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// TestForeignOtherNameWordsRedacted: a value of lower-case letters right
// after a credential's name other than a password's, a token's, a
// session's or a key's ("credential hunter", "private key hunter", "pwd
// hunter", "Authorization hunter"), after the word "auth" alone (a Redis
// AUTH, "auth hunter"), or after a plural of a credential's name ("api
// keys hunter", "passwords hunter") was stored as sent: such a name was
// read by the rule of any credential's name, which clears only a word that
// reads as no word (secretLike).
func TestForeignOtherNameWordsRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "login with credential credword failed",
		attribute.String("app.a", "private key privword"),
		attribute.String("app.b", "pwd pwdword"),
		attribute.String("app.c", "Authorization authzword"),
		attribute.String("app.d", "redis AUTH authword"),
		attribute.String("app.e", "api keys pluralone"),
		attribute.String("app.f", "passwords pluraltwo"),
		attribute.String("app.g", "secrets pluralthree"),
		attribute.String("app.h", "credentials Credsword"),
	)
	if want := "login with credential " + Redacted + " failed"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	storeHoldsNone(t, dir, "credword", "privword", "pwdword", "authzword", "authword", "pluralone",
		"pluraltwo", "pluralthree", "Credsword")
}

// harmlessNameTexts are texts the rule above must keep: a status, a thing
// of the credential's or what it does, a name that holds "auth" but is no
// word "auth" alone ("auth_time"), and words the rules before cleared
// ("token Balance", "Oracle SID orcl", "bearer bonds").
var harmlessNameTexts = []string{
	"credential store", "credentials expired", "credential helper not found", "credential provider chain",
	"private key file missing", "private key loaded", "pwd command", "pwd output", "Authorization header missing",
	"Authorization failed", "authorization code flow", "auth service", "auth failed", "auth_time hunter",
	"auth.method hunter", "api keys rotated", "passwords must match", "passwords stored in vault", "secrets manager",
	"token Balance", "the ERC20 token Balance", "Oracle SID orcl", "bearer bonds", "bearer bonds matured",
}

// TestHarmlessNameTextsKept: harmlessNameTexts, posted by a foreign OTLP
// client over loopback, are stored as sent.
func TestHarmlessNameTextsKept(t *testing.T) {
	t.Parallel()
	var attrs []attribute.KeyValue
	for i, v := range harmlessNameTexts {
		attrs = append(attrs, attribute.String(fmt.Sprintf("app.kept%d", i), v))
	}
	got, _ := storeForeignTexts(t, "harmless", attrs...)
	for i, v := range harmlessNameTexts {
		if k := fmt.Sprintf("app.kept%d", i); got.Attributes[k] != v {
			t.Errorf("%q stored as %q", v, got.Attributes[k])
		}
	}
}
