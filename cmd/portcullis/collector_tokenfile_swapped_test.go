package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
	"github.com/rs/zerolog"
)

// A token file is `name token` lines; one written the other way round,
// `token name` (an easy slip: both are words), stopped the collector
// with the error "collector token \"<the token>\" is 9 bytes, shorter
// than 32", the token taken for the name and quoted whole in the error
// the collector logs as it stops; so did a line given twice, "token name
// \"<the token>\" ... used twice". The error now names the file's line and
// the fields' order, never what either field holds, for --token-file and
// --alertmanager-token-file alike.
func TestCollectorTokenFileWrittenBackwardsNamesNoToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	const token = "c0ffee0123456789abcdef0123456789abcdef01234567890secret"
	senders := filepath.Join(dir, "senders")
	if err := os.WriteFile(senders, []byte("sidecar-b 1111111111111111111111111111111111111111\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ flag, text string }{
		{"--token-file", token + " sidecar-a\n"},
		{"--token-file", "# sidecars\n" + token + " " + token + "x\n" + token + " " + token + "y\n"},
		{"--alertmanager-token-file", token + " alertmanager\n"},
	} {
		file := filepath.Join(dir, "tokens")
		if err := os.WriteFile(file, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"--data", filepath.Join(dir, "data"), "--signing-key", keyFile, "--listen", "127.0.0.1:0", "--token-file", senders}
		if tc.flag == "--token-file" {
			args[len(args)-1] = file
		} else {
			args = append(args, "--policy", examplePolicy, tc.flag, file)
		}
		f, code, ok := parseCollectorFlags(args)
		if !ok {
			t.Fatalf("%s: flags refused (%d)", tc.flag, code)
		}
		var buf bytes.Buffer
		log := zerolog.New(&buf)
		err := serveCollector(f, &log)
		if err == nil {
			t.Fatalf("%s %q: the collector started", tc.flag, tc.text)
		}
		if got := err.Error() + buf.String(); strings.Contains(got, token) || !strings.Contains(got, "line") {
			t.Errorf("%s %q: error %q; want it to name the line, never the token", tc.flag, strings.ReplaceAll(tc.text, token, "TOKEN"), strings.ReplaceAll(got, token, "TOKEN"))
		}
	}
}
