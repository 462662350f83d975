package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy"
	"github.com/rs/zerolog"
)

// A collector token file holds `name token` lines; given to the sidecar as
// --collector-token-file (the same Secret mounted in both), the whole line
// went out as the bearer token, every batch was refused 401 and spooled
// until the spool filled. The sidecar now refuses at start a token with
// whitespace or control characters, naming the flag and the format.
func TestSidecarRefusesCollectorTokenFileFormat(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"name token": "alice 0123456789abcdef0123456789abcdef\n",
		"two lines":  "0123456789abcdef0123456789abcdef\n0123456789abcdef0123456789abcdee\n",
		"control":    "0123456789abcdef\x000123456789abcdef",
		"empty":      "\n",
	} {
		file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		f := sidecarFlags{collector: "http://127.0.0.1:9", tokenFile: file, spoolDir: filepath.Join(dir, "spool-"+strings.ReplaceAll(name, " ", "-"))}
		sink, err := openAuditSink(f, &policy.Store{}, zerolog.Nop())
		if err == nil {
			sink.close()
			t.Errorf("%s: a token file holding %q was accepted", name, content)
			continue
		}
		if !strings.Contains(err.Error(), "--collector-token-file") {
			t.Errorf("%s: error %q does not name --collector-token-file", name, err)
		}
		if strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("%s: error %q quotes the token", name, err)
		}
	}
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	sink, err := openAuditSink(sidecarFlags{collector: "http://127.0.0.1:9", tokenFile: good, spoolDir: filepath.Join(dir, "spool-good")}, &policy.Store{}, zerolog.Nop())
	if err != nil {
		t.Fatalf("a token file holding one token: %v", err)
	}
	sink.close()
}
