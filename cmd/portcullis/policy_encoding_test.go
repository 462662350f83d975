package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/portcullis/portcullis/collector"
	"github.com/rs/zerolog"
)

// Finding (review89): a policy saved as UTF-16 without a byte order mark
// (NUL bytes between its characters) was refused as
// "FILE:1: control characters are not allowed", which named neither the
// encoding nor the fix. It is now refused naming the encoding and how to
// convert it, from a file and from stdin. UTF-16 with its byte order mark
// and UTF-8 with one are read, as YAML reads them.
func TestPolicyFileEncodingNamed(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	units := utf16.Encode([]rune(string(text)))
	le, be := make([]byte, 0, 2*len(units)), make([]byte, 0, 2*len(units))
	for _, u := range units {
		le = append(le, byte(u), byte(u>>8))
		be = append(be, byte(u>>8), byte(u))
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		data []byte
		enc  string // "": read
	}{
		{"utf16le.yaml", le, "UTF-16LE"},
		{"utf16be.yaml", be, "UTF-16BE"},
		{"utf16le-bom.yaml", append([]byte{0xff, 0xfe}, le...), ""},
		{"utf16be-bom.yaml", append([]byte{0xfe, 0xff}, be...), ""},
		{"utf8-bom.yaml", append([]byte{0xef, 0xbb, 0xbf}, text...), ""},
	} {
		p := write(tc.name, tc.data)
		r := portcullis(t, "", nil, "policy", "validate", p)
		if tc.enc == "" {
			if r.code != 0 {
				t.Errorf("policy validate %s = exit %d, stderr %q; want it read", tc.name, r.code, r.stderr)
			}
			continue
		}
		want := "is " + tc.enc + " without a byte order mark"
		if r.code == 0 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "iconv -f "+tc.enc+" -t UTF-8") {
			t.Errorf("policy validate %s = exit %d, stderr %q; want it refused saying it %s, and how to convert it", tc.name, r.code, r.stderr, want)
		}
	}
	// The commands that read a policy for its names only read it alike.
	if r := portcullis(t, "", nil, "incident", "assess", "--client", "acme-hris", "--data", filepath.Join(dir, "none"), "--policy", filepath.Join(dir, "utf16le.yaml")); r.code == 0 || !strings.Contains(r.stderr, "is UTF-16LE without a byte order mark") {
		t.Errorf("incident assess --policy UTF-16LE = exit %d, stderr %q; want it refused naming the encoding", r.code, r.stderr)
	}
	r := portcullisStdin(t, string(le), "policy", "validate", "-")
	if r.code == 0 || !strings.Contains(r.stderr, "stdin: it is UTF-16LE without a byte order mark") {
		t.Errorf("policy validate - < UTF-16LE = exit %d, stderr %q; want it refused naming the encoding", r.code, r.stderr)
	}
}

// Finding (review89): clients suspend --for 0s was refused as "--for is
// required", though --for was given. It now says what is wrong with 0s.
func TestSuspendForZeroSaysWhy(t *testing.T) {
	t.Parallel()
	r := portcullis(t, "", nil, "clients", "suspend", "acme-hris", "--for", "0s", "--reason", "x", "--etcd", "127.0.0.1:1")
	if r.code != 2 || strings.Contains(r.stderr, "is required") || !strings.Contains(r.stderr, "--for 0s") || !strings.Contains(r.stderr, "more than 0s") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("clients suspend --for 0s = exit %d, stderr %q; want exit 2 and one line saying 0s suspends nothing", r.code, r.stderr)
	}
	if r := portcullis(t, "", nil, "clients", "suspend", "acme-hris", "--reason", "x", "--etcd", "127.0.0.1:1"); r.code != 2 || !strings.Contains(r.stderr, "--for is required") {
		t.Errorf("clients suspend without --for = exit %d, stderr %q; want --for is required", r.code, r.stderr)
	}
}

// Finding (review89): a --token-file of one line with one field (the old
// format) silently became the token of sender "default": every record
// and metric of that sidecar said "default", and nothing said why. The
// collector now warns of it at start, naming the file and the fix, never
// the token; a file of named lines gets no warning.
func TestCollectorWarnsOfBareTokenFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	const token = "bare-token-0123456789abcdef0123456789"
	for _, tc := range []struct {
		text string
		warn bool
	}{
		{"# old format\n" + token + "\n", true},
		{"sidecar-a " + token + "\n", false},
	} {
		tokens := filepath.Join(dir, "tokens")
		if err := os.WriteFile(tokens, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		// --cert-tenants without --client-ca stops the start right after
		// the token files are read: no store, no listener.
		f, code, ok := parseCollectorFlags([]string{"--data", filepath.Join(dir, "data"), "--signing-key", keyFile, "--listen", "127.0.0.1:0",
			"--token-file", tokens, "--cert-tenants", filepath.Join(dir, "none")})
		if !ok {
			t.Fatalf("flags refused (%d)", code)
		}
		var buf bytes.Buffer
		log := zerolog.New(&buf)
		if err := serveCollector(f, &log); err == nil || !strings.Contains(err.Error(), "--cert-tenants") {
			t.Fatalf("serveCollector = %v, want the --cert-tenants error", err)
		}
		got := buf.String()
		warned := strings.Contains(got, `"level":"warn"`) && strings.Contains(got, "one bare token") && strings.Contains(got, `\"default\"`) && strings.Contains(got, "NAME TOKEN")
		if warned != tc.warn || strings.Contains(got, token) {
			t.Errorf("token file %q: log %q; want a warning naming \"default\" and the fix: %v, and never the token", strings.ReplaceAll(tc.text, token, "TOKEN"), strings.ReplaceAll(got, token, "TOKEN"), tc.warn)
		}
	}
}
