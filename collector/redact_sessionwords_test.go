package collector

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// TestForeignSessionAndCookieWordsRedacted: a session's or a cookie's
// value of lower-case letters right after its name with no linking verb
// ("session hunter", "cookie hunter") was stored as sent: after a name
// neither a password's nor a token's, only a word that reads as no word
// (secretLike) was cleared.
func TestForeignSessionAndCookieWordsRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "login with session sessionhunter failed",
		attribute.String("app.a", "cookie cookiehunter"),
		attribute.String("app.b", "the laravel_session laravelword was sent"),
		attribute.String("app.c", "Set-Cookie setcookieword"),
	)
	if want := "login with session " + Redacted + " failed"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	storeHoldsNone(t, dir, "sessionhunter", "cookiehunter", "laravelword", "setcookieword")
}

// harmlessSessionTexts are texts the rule above must keep: a word after a
// session's or a cookie's name that is a thing of it, a status, or what
// happens to it.
var harmlessSessionTexts = []string{
	"session expired", "session started", "cookie policy", "cookie banner", "session timeout", "cookie jar",
	"session opened for user root by (uid=0)", "session closed for user root", "session ends at noon",
	"session lost", "session store unavailable", "cookie consent given", "session fixation detected",
	"session affinity enabled", "cookie domain mismatch", "session cookie set",
	"session ID rotated", "session idle for 5m", "cookie attributes ignored", "session exit", "session quota exceeded",
	"session tab closed", "session restore failed",
}

// TestHarmlessSessionTextsKept: harmlessSessionTexts, posted by a
// foreign OTLP client over loopback, are stored as sent.
func TestHarmlessSessionTextsKept(t *testing.T) {
	t.Parallel()
	var attrs []attribute.KeyValue
	for i, v := range harmlessSessionTexts {
		attrs = append(attrs, attribute.String(fmt.Sprintf("app.kept%d", i), v))
	}
	got, _ := storeForeignTexts(t, "harmless", attrs...)
	for i, v := range harmlessSessionTexts {
		if k := fmt.Sprintf("app.kept%d", i); got.Attributes[k] != v {
			t.Errorf("%q stored as %q", v, got.Attributes[k])
		}
	}
}

// TestRedactSessionWordEdges: the edges of the session's and the
// cookie's rule, as RedactText reads them.
func TestRedactSessionWordEdges(t *testing.T) {
	for in, want := range map[string]string{
		"session hunter":       "session " + Redacted,
		"cookie hunter":        "cookie " + Redacted,
		"session hunter2":      "session " + Redacted,
		"session 3 of 5":       "session 3 of 5",
		"session Expired":      "session Expired",
		"session Hunter":       "session " + Redacted,
		"session is hunter":    "session is " + Redacted,
		"cookie jars":          "cookie jars",
		"session timeouts hit": "session timeouts hit",
	} {
		if got := RedactText(in); got != want {
			t.Errorf("RedactText(%q) = %q, want %q", in, got, want)
		}
	}
}
