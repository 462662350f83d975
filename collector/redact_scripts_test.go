package collector

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// TestForeignEscapedSeparatorsRedacted: a pair's '=' or ':' written as
// an HTML character reference (an HTML-escaped log line: "&#61;",
// "&#x3d;", "&equals;", "&#58;", "&colon;") or ':' percent-encoded
// ("%3A", as '=' was already read) made no pair, its value stored as
// sent.
func TestForeignEscapedSeparatorsRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "form password&#61;eq-dec-secret&amp;user=bob",
		attribute.String("app.a", "password&#x3d;eq-hex-secret next"),
		attribute.String("app.b", "secret&#X3D;eq-upper-secret"),
		attribute.String("app.c", "password&equals;eq-named-secret"),
		attribute.String("app.d", "token&#58; colon-dec-secret"),
		attribute.String("app.e", "api_key&colon;colon-named-secret"),
		attribute.String("app.f", "q=password%3Apct-colon-secret%26user%3Abob&x=1"),
		attribute.String("app.g", "next=password%3Dpct-eq-secret"),
	)
	if want := "form password&#61;" + Redacted + "&amp;user=bob"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	if want := "q=password%3A" + Redacted + "%26user%3Abob&x=1"; got.Attributes["app.f"] != want {
		t.Errorf("app.f stored as %q, want %q", got.Attributes["app.f"], want)
	}
	storeHoldsNone(t, dir, "eq-dec-secret", "eq-hex-secret", "eq-upper-secret", "eq-named-secret", "colon-dec-secret",
		"colon-named-secret", "pct-colon-secret", "pct-eq-secret")
}

// TestForeignNamesInOtherScriptsRedacted: a password named in Russian,
// Chinese, Japanese, Korean, Arabic, Hebrew, Greek, Hindi or Thai was
// read as no credential's name, its value stored as sent: after '=',
// ':', a fullwidth '＝' or '：', in prose, after a Chinese or Japanese
// particle (密码是..., パスワードは...), and as an attribute's key.
func TestForeignNamesInOtherScriptsRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "登录失败：密码：zh-secret，用户：bob",
		attribute.String("app.ru", "пароль=ru-secret Пароль: ru2-secret пароль это ruprose"),
		attribute.String("app.zht", "密碼＝zht-secret"),
		attribute.String("app.zh", "密码是zh2-secret，请勿泄露"),
		attribute.String("app.ja", "パスワード：ja-secret パスワードはja2-secretです"),
		attribute.String("app.ko", "비밀번호: ko-secret 비밀번호는 ko2-secret"),
		attribute.String("app.ar", "كلمة المرور: ar-secret كلمة السر هي ar2-secret"),
		attribute.String("app.he", "סיסמה: he-secret"),
		attribute.String("app.el", "κωδικός πρόσβασης: el-secret συνθηματικό=el2-secret ΚΩΔΙΚΟΣ: el3-secret"),
		attribute.String("app.hi", "पासवर्ड: hi-secret"),
		attribute.String("app.th", "รหัสผ่าน: th-secret"),
		attribute.String("user.пароль", "ru-key-secret"),
		attribute.String("密码", "zh-key-secret"),
		attribute.String("كلمة_المرور", "ar-key-secret"),
	)
	if want := "登录失败：密码：" + Redacted + "，用户：bob"; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	if want := "パスワード：" + Redacted + " パスワードは" + Redacted + "です"; got.Attributes["app.ja"] != want {
		t.Errorf("app.ja stored as %q, want %q", got.Attributes["app.ja"], want)
	}
	storeHoldsNone(t, dir, "zh-secret", "ru-secret", "ru2-secret", "ruprose", "zht-secret", "zh2-secret", "ja-secret", "ja2-secret",
		"ko-secret", "ko2-secret", "ar-secret", "ar2-secret", "he-secret", "el-secret", "el2-secret", "el3-secret", "hi-secret",
		"th-secret", "ru-key-secret", "zh-key-secret", "ar-key-secret")
}
