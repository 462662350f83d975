package collector

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
)

// TestForeignShortSecretNamesRedacted: a password's short names (pwd,
// passcode), a PIN, a one-time code, a JWT or a bearer token under its
// own name, and a session id in a header named x-sid, were stored as
// sent, as attributes and as pairs in a text (attack167). Names that
// only hold such a word (pinned, spin, hotp_counter) are kept.
func TestForeignShortSecretNamesRedacted(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startCollector(t, dir, newTestKey(t), StoreConfig{})
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetBody(attribute.StringValue("mysql -u app --pwd=pwd-flag-in-body; login otp=otp-pair-in-body ok"))
	rec.AddAttributes(
		attribute.String("db.pwd", "db-pwd-value"),
		attribute.String("user.passcode", "user-passcode-value"),
		attribute.String("card.pin", "card-pin-value"),
		attribute.String("mfa.totp", "mfa-totp-value"),
		attribute.String("x-otp", "x-otp-value"),
		attribute.String("auth.jwt", "auth-jwt-value"),
		attribute.String("bearer", "bearer-name-value"),
		attribute.String("x-sid", "x-sid-value"),
		attribute.String("pinned", "yes"),
		attribute.String("spin", "up"),
		attribute.Int("hotp_counter", 4),
	)
	emitForeign(t, srv.URL, rec)
	st.Close()
	recs := storedRecords(t, dir)
	if len(recs) != 1 {
		t.Fatalf("stored %d records, want 1", len(recs))
	}
	if got := recs[0].Attributes; got["pinned"] != "yes" || got["spin"] != "up" || got["hotp_counter"] != "4" {
		t.Errorf("pinned, spin, hotp_counter stored as %q, %q, %q; want them as sent", got["pinned"], got["spin"], got["hotp_counter"])
	}
	storeHoldsNone(t, dir, "pwd-flag-in-body", "otp-pair-in-body", "db-pwd-value", "user-passcode-value", "card-pin-value", "mfa-totp-value",
		"x-otp-value", "auth-jwt-value", "bearer-name-value", "x-sid-value")
}
