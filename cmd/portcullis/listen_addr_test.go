package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/collector"
)

// A listen address whose port is out of range (70000, -5) or missing was
// found only when the server listened: exit 1 after a JSON log line or
// two, where dev and --upstream already said so as a usage error (exit
// 2). Every server command now refuses it before it starts.
func TestListenAddressOutOfRangeIsUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, tokens, pol := filepath.Join(dir, "signing.key"), filepath.Join(dir, "tokens"), filepath.Join(dir, "policy.yaml")
	if err := collector.GenerateKey(key); err != nil {
		t.Fatal(err)
	}
	for path, body := range map[string]string{tokens: "s1 tok-abcdefghijklmnopqrstuvwxyz0123456789\n", pol: "version: 1\n"} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	col := []string{"collector", "--data", filepath.Join(dir, "data"), "--signing-key", key, "--token-file", tokens}
	side := []string{"sidecar", "--policy", pol, "--upstream", "127.0.0.1:1"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{append(col, "--listen", "127.0.0.1:70000"), "--listen 127.0.0.1:70000: want host:port"},
		{append(col, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:-5"), "--metrics-listen 127.0.0.1:-5: want host:port"},
		{append(side, "--listen", "127.0.0.1:70000"), "--listen 127.0.0.1:70000: want host:port"},
		{append(side, "--listen", "127.0.0.1:0", "--admin", "localhost"), "--admin localhost: want host:port"},
		{[]string{"injector", "--tls-cert", key, "--tls-key", key, "--listen", ":70000"}, "--listen :70000: want host:port"},
		{[]string{"upstream", "--listen", "127.0.0.1:70000"}, "--listen 127.0.0.1:70000: want host:port"},
		{[]string{"upstream", "--listen", "bad"}, "--listen bad: want host:port"},
		{append(col, "--listen", "bad"), "--listen bad: want host:port"},
		// A port past int's range was no number to the check, left to the
		// listen: exit 1 after log lines (attack812).
		{append(side, "--listen", "127.0.0.1:99999999999999999999"), "--listen 127.0.0.1:99999999999999999999: want host:port"},
		{[]string{"upstream", "--listen", "127.0.0.1:-99999999999999999999"}, "--listen 127.0.0.1:-99999999999999999999: want host:port"},
	} {
		r := portcullis(t, "", nil, c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line with %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
