package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
	"github.com/rs/zerolog"
)

// The collector refuses to start with a token shorter than 32 bytes (named
// in the error, never shown) or a token file that is not `name token` lines.
func TestCollectorRefusesWeakTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o600)
		return p
	}
	const short = "sidecar-token-too-short"
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"short --token", []string{"--token", short}, "shorter than 32"},
		{"short token in file", []string{"--token-file", write("short", "sidecar-a "+short+"\n")}, `"sidecar-a" is 23 bytes`},
		{"malformed file", []string{"--token-file", write("bad", "a b c\n")}, "line 1 is not `name token`"},
	}
	for _, c := range cases {
		args := append([]string{"--data", filepath.Join(dir, c.name), "--signing-key", keyFile, "--listen", "127.0.0.1:0"}, c.args...)
		f, code, ok := parseCollectorFlags(args)
		if !ok {
			t.Fatalf("%s: flags refused (%d)", c.name, code)
		}
		log := zerolog.Nop()
		err := serveCollector(f, &log)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), short) {
			t.Errorf("%s: serveCollector = %v, want an error saying %q without the token", c.name, err, c.want)
		}
	}
}
