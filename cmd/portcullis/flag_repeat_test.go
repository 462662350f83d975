package main

import (
	"strings"
	"testing"
)

// A single-valued flag given twice is a usage error naming the flag, for
// every command (the check is in the one flag parsing they share): the
// flag package kept the last value without a word, so a manifest's
// --policy followed by a user's ran on the user's. A deprecated spelling
// counts as its flag. The values are never printed (--etcd-password).
func TestRepeatedFlagIsAUsageError(t *testing.T) {
	t.Parallel()
	etcd := []string{"--etcd", "127.0.0.1:1", "--timeout", "1s"}
	dir := t.TempDir() // where a command that ran anyway (before) wrote
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"sidecar", "--upstream", "127.0.0.1:1", "--policy", "a.yaml", "--policy", "b.yaml"}, "--policy given 2 times"},
		{[]string{"sidecar", "--upstream", "127.0.0.1:1", "--policy", "a.yaml", "--listen", "127.0.0.1:0", "--listen=127.0.0.1:0"}, "--listen given 2 times"},
		{[]string{"sidecar", "--upstream", "127.0.0.1:1", "--policy", "a.yaml", "--drain", "1s", "--drain", "2s"}, "--drain given 2 times"},
		{[]string{"collector", "--data", "d1", "--data", "d2"}, "--data given 2 times"},
		{[]string{"inject", "-f", "a.yaml", "-f", "b.yaml"}, "-f given 2 times"},
		{[]string{"injector", "--tls-cert", "a.crt", "--tls-key", "a.key", "--tls-cert", "b.crt"}, "--tls-cert given 2 times"},
		{append([]string{"keys", "list", "--etcd", "127.0.0.1:2"}, etcd...), "--etcd given 2 times"},
		{append([]string{"keys", "list", "--cacert", "a.crt", "--etcd-cacert", "b.crt"}, etcd...), "--etcd-cacert given 2 times (as --cacert, --etcd-cacert)"},
		{append([]string{"policy", "get", "--etcd-password", "s3cret-one", "--etcd-password", "s3cret-two"}, etcd...), "--etcd-password given 2 times"},
		{append([]string{"approvals", "list", "--json", "--json"}, etcd...), "--json given 2 times"},
		{[]string{"audit", "query", "--data", "d", "--format", "json", "--format", "table"}, "--format given 2 times"},
		{[]string{"audit", "verify", "--data", "d", "--public-key", "k.pub", "--expect-head", strings.Repeat("a", 64), "--expect-head", strings.Repeat("b", 64)}, "--expect-head given 2 times"},
		{[]string{"evidence", "pack", "--data", "d", "--policy", "a.yaml", "--policy", "b.yaml"}, "--policy given 2 times"},
		{[]string{"dev", "--data", dir + "/d1", "--data", dir + "/d2"}, "--data given 2 times"},
	} {
		r := portcullisWithin(t, 20e9, tt.args...)
		line := strings.TrimSuffix(r.stderr, "\n")
		if r.code != 2 || !strings.Contains(line, tt.want) || strings.Contains(line, "\n") || strings.Contains(line, "s3cret") {
			t.Errorf("portcullis %s = exit %d, stderr %q; want exit 2 and one line with %q, no value", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
}
