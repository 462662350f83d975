package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestPolicyHistoryNewestFirst: the README and docs/cli.md say policy
// history lists the pushes newest first, and --limit keeps the newest; it
// printed them oldest first, so the push a user had just made was the last
// line, under every older one. Newest first now, in the table and in JSON.
func TestPolicyHistoryNewestFirst(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	etcd := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--timeout", "10s", "--actor", "alice"}
	for _, reason := range []string{"first", "second"} {
		if r := portcullis(t, "", nil, append([]string{"policy", "push", examplePolicy, "--reason", reason}, etcd...)...); r.code != 0 {
			t.Fatalf("policy push = exit %d, stderr %q", r.code, r.stderr)
		}
	}
	hist := etcd[:4]
	r := portcullis(t, "", nil, append([]string{"policy", "history"}, hist...)...)
	if i, j := strings.Index(r.stdout, "second"), strings.Index(r.stdout, "first"); r.code != 0 || i < 0 || j < 0 || i > j {
		t.Errorf("policy history = exit %d:\n%s\nwant the second push above the first", r.code, r.stdout)
	}
	var entries []etcdadmin.HistoryEntry
	r = portcullis(t, "", nil, append([]string{"policy", "history", "--json"}, hist...)...)
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		t.Fatalf("policy history --json: %v", err)
	}
	var reasons []string
	for _, h := range entries {
		reasons = append(reasons, h.Reason)
	}
	if strings.Join(reasons, ",") != "second,first" {
		t.Errorf("policy history --json lists the pushes %q, want second,first", reasons)
	}
	r = portcullis(t, "", nil, append([]string{"policy", "history", "--limit", "1"}, hist...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "second") || strings.Contains(r.stdout, "first") {
		t.Errorf("policy history --limit 1 = exit %d:\n%s\nwant the second push alone", r.code, r.stdout)
	}
}
