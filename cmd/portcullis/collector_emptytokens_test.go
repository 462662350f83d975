package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A token file that holds no token (empty, or comments only) is an
// error naming its flag and the file. An empty --alertmanager-token-file
// started the collector with POST /v1/alertmanager unserved (404) and not
// a word logged; an empty --token-file beside --client-ca started it
// refusing every token sender; alone, it stopped the collector with
// "collector needs a token or client certificate authentication", naming
// neither the flag nor the file.
func TestCollectorEmptyTokenFileNamed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	t.Parallel()
	r := newCollectorCRLRig(t) // --client-ca, --tls-cert, --tls-key and a signing key
	dir := r.h.dir
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := write("empty-tokens", "")
	comments := write("comment-tokens", "# senders, one `NAME TOKEN` line each\n\n")
	senders := write("senders", "sidecar-a 0123456789abcdef0123456789abcdef01\n")
	base := func(data string) []string {
		return []string{"collector", "--listen", freeAddr(t), "--metrics-listen", freeAddr(t), "--data", filepath.Join(dir, data), "--signing-key", r.keyFile}
	}
	for _, tc := range []struct {
		name, flag, file string
		args             []string
	}{
		{"token file alone", "--token-file", empty, append(base("d1"), "--token-file", empty)},
		{"token file beside --client-ca", "--token-file", comments, append(withoutFlag(r.args, "--data"), "--data", filepath.Join(dir, "d2"), "--token-file", comments)},
		{"alertmanager token file", "--alertmanager-token-file", empty, append(base("d3"), "--token-file", senders, "--policy", examplePolicy, "--alertmanager-token-file", empty)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := portcullisWithin(t, time.Minute, tc.args...)
			if res.code == 0 || !strings.Contains(res.stderr, tc.flag+" "+tc.file) || !strings.Contains(res.stderr, "holds no token") {
				t.Errorf("collector with %s %s (no token in it): exit %d, stderr:\n%s\nwant an error naming the flag and the file", tc.flag, tc.file, res.code, tail(res.stderr, 2000))
			}
		})
	}
}

// withoutFlag returns args without flag and its value.
func withoutFlag(args []string, flag string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == flag {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}
