package collector

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// TestForeignValueBeforeConjunctiveRedacted: a password after Japanese を
// followed by で ending its phrase ("パスワードをhunter2で", the copula's
// conjunctive form) or by だけ (only) ending its phrase or before a
// copula, or after Korean 를 followed by 예요, 이에요 or 이다 was stored as
// sent. で before another word is a means ("パスワードをSHA256でハッシュ") and
// だけで before one too ("パスワードをASCIIだけで作る"): kept.
func TestForeignValueBeforeConjunctiveRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "パスワードをjate9で",
		attribute.String("app.a", "パスワードをjadake9だけ"),
		attribute.String("app.b", "パスワードをjadakedesu9だけです"),
		attribute.String("app.c", "비밀번호를koyeyo9예요"),
		attribute.String("app.d", "비밀번호를koieyo9이에요"),
		attribute.String("app.e", "パスワードをjatecomma9で、ユーザーはbob"),
		attribute.String("app.kept1", "パスワードをSHA256でハッシュ"),
		attribute.String("app.kept2", "パスワードをASCIIだけで作る"),
	)
	if want := "パスワードを" + Redacted + "で"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	for k, v := range map[string]string{"app.kept1": "パスワードをSHA256でハッシュ", "app.kept2": "パスワードをASCIIだけで作る"} {
		if got.Attributes[k] != v {
			t.Errorf("%s stored as %q, want %q", k, got.Attributes[k], v)
		}
	}
	storeHoldsNone(t, dir, "jate9", "jadake9", "jadakedesu9", "koyeyo9", "koieyo9", "jatecomma9")
}
