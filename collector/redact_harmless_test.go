package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

// harmlessNames are keys that name no credential, close to those that do
// (a word that holds "pass", "token", "session", "sid" or "key"; a
// lookalike or an invisible character that folds to a harmless word):
// credentialKey must keep their values. docs/audit.md lists the harmless
// ones it clears (password.changed_at, session.id's map).
var harmlessNames = []string{
	"passage", "passenger", "passport", "bypass", "compass", "tokenizer", "tokenizer_version", "tokens",
	"max_tokens", "gen_ai.usage.input_tokens", "session_count", "session.count", "session.duration",
	"session.valid", "sessions", "session_idle_timeout", "user_session_count", "sidebar", "side", "consider",
	"insider.sid_count", "author", "authority", "authenticated", "keyboard", "keys", "key_id", "cookbook",
	"café", "naïve", "日本語", "ｓｅｓｓｉｏｎ＿ｃｏｕｎｔ", "Αuthor" /* Greek capital alpha */, "pass\u200bage",
	"100%25done", "discount%", "%zz", "http.response.status_text", "autoclave", "resenha", "mdpi_count",
}

// harmlessTexts are values that hold a pair or a name, none of whose
// names a credential, or a credential's name without a value after it:
// redactPairs must keep them.
var harmlessTexts = []string{
	"GET /v1/orders?page=2&sort=asc", "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101",
	"region: eu-west-1", "tokens=42 max_tokens=512", "session_count=3 session.duration=35m", "at 12:30:45",
	"https://api.example:8443/x", "password reset requested for bob", "password:", "password: ", "Bearer is a scheme",
	"sidebar=open", `{"user": "bob", "passage": "Ps 23"}`, "ratio=1:2 key=value",
	// prose: the word after a credential's name, with no separator, is
	// a word (redactProse)
	"password is required", "token was revoked", "password reset link sent to bob", "session expired after 30m",
	"invalid password for user bob", "the secret is out", "Passwort vergessen", "token is valid for 1h",
	"password-protected file", "Bearer token expired", "password is Required.", "mot de passe oublié",
	"password:\nregion: eu-west-1", "AT&amp;T &#169; 2024: ok", `<input type="password" name="pw">`,
	"Set-Cookie header sent, retry=3", "user id 42 logged in", "primary key violation: orders", "session id rotated",
	// prose after a linking verb: a status word or an adjective
	// (keptWords), and a sentence going on to another thing (proseLink)
	"password is incorrect", "password is too short", "token is expired", "password is reset",
	"password for bob is required", "session timeout is 30m", "session timeout: 30m", "password reset: sent",
	"密码是必填的", "пароль это неверный",
	// a count, a quoted status word, and the line after "Password:" that
	// starts a sentence (sentenceStart)
	"token 3 of 5", "password 'reset'", "Password:\nThe user logged in", "Password:\nPlease retry",
}

// TestHarmlessNamesAndTextsKept: what redaction must not clear, posted
// by a foreign OTLP client over loopback and stored as sent: the names
// in one record, the texts in another (a record keeps maxForeignAttrs).
func TestHarmlessNamesAndTextsKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	want := map[string]string{}
	var names, texts otellog.Record
	for i, k := range harmlessNames {
		want[k] = fmt.Sprintf("value-%d", i)
		names.AddAttributes(attribute.String(k, want[k]))
	}
	for i, v := range harmlessTexts {
		k := fmt.Sprintf("app.text%d", i)
		want[k] = v
		texts.AddAttributes(attribute.String(k, v))
	}
	for _, rec := range []otellog.Record{names, texts} {
		rec.SetTimestamp(time.Now())
		emitForeign(t, srv.URL, rec)
	}
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 2 {
		t.Fatalf("stored %d records, want 2", len(recs))
	}
	got := map[string]string{}
	for _, r := range recs {
		if len(r.Attributes) >= maxForeignAttrs {
			t.Fatalf("a record stored %d attributes, the most it keeps: split the lists", len(r.Attributes))
		}
		for k, v := range r.Attributes {
			got[k] = v
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q stored as %q, want %q", k, got[k], v)
		}
	}
}

// FuzzCredentialKeyDisguised: a name reads the same to credentialKey
// with zero-width spaces and soft hyphens between its characters, in
// fullwidth letters, or percent-encoded byte by byte.
func FuzzCredentialKeyDisguised(f *testing.F) {
	for _, k := range append([]string{"password", "http.request.header.authorization", "x-api-key", "session.id",
		"JSESSIONID", "connect.sid", "csrf_token", "api.key", "&#112;assword", "p&#x61;ssword", "mot de passe", "contraseña",
		"user.пароль", "密码", "パスワード", "كلمة المرور", "κωδικός"}, harmlessNames...) {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !utf8.ValidString(name) || strings.ContainsRune(name, '%') || len(name) > 64 {
			return
		}
		want := credentialKey(name)
		var zw, wide, pct strings.Builder
		for i, r := range name {
			if i > 0 {
				zw.WriteString("\u200b\u00ad")
			}
			zw.WriteRune(r)
			if '!' <= r && r <= '~' {
				wide.WriteRune(r - '!' + '！') // the fullwidth forms, U+FF01 on
			} else {
				wide.WriteRune(r)
			}
		}
		for i := 0; i < len(name); i++ {
			fmt.Fprintf(&pct, "%%%02X", name[i])
		}
		for _, d := range []string{zw.String(), wide.String(), pct.String()} {
			if got := credentialKey(d); got != want {
				t.Errorf("credentialKey(%q) = %v, credentialKey(%q) = %v", name, want, d, got)
			}
		}
	})
}
