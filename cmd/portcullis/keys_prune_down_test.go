package main

import (
	"strings"
	"testing"
	"time"
)

// TestPruneRevocationsWithEtcdDownSaysSo: keys prune-revocations with
// etcd unreachable said its first read's answer was lost "so the write
// may or may not have been applied; check with portcullis events list
// ... before running it again": nothing had been written, and the hint
// every other command gives (is etcd up at ...?) was missing. A failed
// read is said as a read now.
func TestPruneRevocationsWithEtcdDownSaysSo(t *testing.T) {
	t.Parallel()
	r := portcullisWithin(t, 20*time.Second, "keys", "prune-revocations", "--etcd", "127.0.0.1:1", "--timeout", "1s")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot read the revocations") || !strings.Contains(r.stderr, "is etcd up at 127.0.0.1:1?") ||
		strings.Contains(r.stderr, "may or may not have been applied") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("keys prune-revocations, etcd down = exit %d, stderr %q; want exit 1 and one line saying the read failed and asking whether etcd is up", r.code, r.stderr)
	}
}
