package collector

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// TestForeignPassphraseLogWordLineRedacted: a passphrase of several words
// whose next line, starting with a capital, holds a word ending as a
// verb's form does past its first ("password: red fox\nKettle boxed") or
// a preposition ("Lemur in kettle") had that line stored as sent, read as
// a log's. A log's line holds a log's own verb ("Connection refused"), a
// level's word, a pair, or a preposition with a number ("Timeout after
// 30s"): kept, and so is a line of one log's word ("Goodbye").
func TestForeignPassphraseLogWordLineRedacted(t *testing.T) {
	t.Parallel()
	got, dir := storeForeignTexts(t, "password: red fox\nKettlesecret boxed",
		attribute.String("app.a", "passphrase: violet lemur\nLemur in kettlesecret"),
		attribute.String("app.b", "db.password = amber oyster\nHarp with walrussecret"),
		attribute.String("app.c", "password: red fox\nLemursecret gleaming"),
		attribute.String("app.kept1", "password: red fox\nConnection refused"),
		attribute.String("app.kept2", "password: red fox\nTimeout after 30s"),
		attribute.String("app.kept3", "password: red fox\nGoodbye"),
		attribute.String("app.kept4", "password: red fox\nConnection reset by peer"),
		attribute.String("app.kept5", "password: red fox\nUser bob logged in"),
	)
	if want := "password: " + Redacted; got.Body != want {
		t.Errorf("body stored as %q, want %q", got.Body, want)
	}
	for k, v := range map[string]string{
		"app.kept1": "password: " + Redacted + "\nConnection refused",
		"app.kept2": "password: " + Redacted + "\nTimeout after 30s",
		"app.kept3": "password: " + Redacted + "\nGoodbye",
		"app.kept4": "password: " + Redacted + "\nConnection reset by peer",
		"app.kept5": "password: " + Redacted + "\nUser bob logged in",
	} {
		if got.Attributes[k] != v {
			t.Errorf("%s stored as %q, want %q", k, got.Attributes[k], v)
		}
	}
	storeHoldsNone(t, dir, "Kettlesecret", "kettlesecret", "walrussecret", "Lemursecret")
}
