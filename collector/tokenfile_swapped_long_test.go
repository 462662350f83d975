package collector

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTokenFileSwappedLineWithLongNameRefused: a token file line written
// `token name` the other way round is refused when its name is short
// (shorter than a token), but one whose name is as long as a token
// (sidecar-payments-production-eu-west-1, 37 bytes, a valid sender name)
// was taken: the sender named by its token, the name its credential.
// Every batch it sent was then stored under sender "token:<the token>",
// the secret written into the audit trail, and the name, a guessable
// word, was the credential. ParseTokenFile now refuses a name as long as
// a token, naming the line and never the field.
func TestTokenFileSwappedLineWithLongNameRefused(t *testing.T) {
	t.Parallel()
	const token = "c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	const name = "sidecar-payments-production-eu-west-1"
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte(token+" "+name+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := ParseTokenFile(data)
	if err != nil {
		if strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "line 1") {
			t.Fatalf("error %q; want it to name line 1, never the token", err)
		}
		return
	}
	// Taken: what did the collector make of it?
	dir := t.TempDir()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(st, Config{Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	code := post(t, srv.URL, name, encodeBatch("b-1", sampleRecord(1)), false)
	srv.Close()
	st.Close()
	t.Errorf("the line `token name` (name of %d bytes) was taken; the name as a bearer token answered %d", len(name), code)
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if b, _ := os.ReadFile(path); strings.Contains(string(b), token) {
			t.Errorf("%s holds the token, as the sender's name", filepath.Base(path))
		}
		return nil
	})
}
