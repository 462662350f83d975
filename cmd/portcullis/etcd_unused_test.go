package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The sidecar, the collector and audit verify and query use etcd only
// when --etcd is given: an etcd flag without it (its user, its TLS files,
// the deployment's prefix) did nothing, without a word. A collector so
// started ran without etcd: its signed heads were anchored nowhere but
// --publish-head and no lifecycle event was stored, while its operator
// had configured etcd. Each is now a usage error naming the flag and
// --etcd; the commands whose --etcd has a default are unaffected.
func TestEtcdFlagWithoutEtcdIsAUsageError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile, _ := signingKeyFile(t)
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("a "+strings.Repeat("t", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := filepath.Abs(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	collector := []string{"collector", "--data", filepath.Join(dir, "data"), "--signing-key", keyFile, "--token-file", tokens, "--listen", "127.0.0.1:0"}
	sidecar := []string{"sidecar", "--policy", pol, "--upstream", "127.0.0.1:1", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}
	verify := []string{"audit", "verify", "--data", filepath.Join(dir, "data"), "--public-key", keyFile + ".pub"}
	for _, tt := range []struct {
		args []string
		flag string
	}{
		{append(collector, "--etcd-user", "collector"), "--etcd-user"},
		{append(collector, "--etcd-cacert", keyFile+".pub"), "--etcd-cacert"},
		{append(collector, "--prefix", "/portcullis/prod"), "--prefix"},
		{append(sidecar, "--etcd-user", "sidecar"), "--etcd-user"},
		{append(verify, "--etcd-user", "auditor"), "--etcd-user"},
	} {
		r := portcullisWithin(t, 20e9, tt.args...)
		line := strings.TrimSuffix(r.stderr, "\n")
		if r.code != 2 || !strings.Contains(line, tt.flag) || !strings.Contains(line, "--etcd") || strings.Contains(line, "\n") {
			t.Errorf("portcullis %s = exit %d, stderr %q; want exit 2 and one line naming %s and --etcd", strings.Join(tt.args, " "), r.code, tail(r.stderr, 600), tt.flag)
		}
	}
}
