package etcdsync_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestUnreachableAtStartSaysNothingIsInForce: a sidecar started while
// etcd does not answer, with no last-known-good file, serves nothing. Its
// first warn line said "etcd unreachable: enforcing the policy in force
// until it answers", of a policy it did not have, and named no endpoint:
// the operator read that the sidecar enforced something, and not which
// etcd it could not reach. The line now says that nothing is in force and
// names the endpoints.
func TestUnreachableAtStartSaysNothingIsInForce(t *testing.T) {
	e := ownEtcd(t)
	cli := dial(t, e)
	e.Stop()
	logs := &logBuffer{}
	r := runSyncer(t, cli, etcdsync.SyncConfig{StartWait: 200 * time.Millisecond, Logger: zerolog.New(logs).Level(zerolog.InfoLevel)})
	waitFor(t, 30*time.Second, "the sidecar to say it serves nothing", func() bool { return strings.Contains(logs.String(), "serving nothing") })
	if r.store.Load() != nil {
		t.Fatal("a policy is in force with etcd down from the start and no last-known-good file")
	}
	var first string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "etcd unreachable") {
			first = line
			break
		}
	}
	if strings.Contains(first, "policy in force") || !strings.Contains(first, "nothing in force") {
		t.Errorf("first warn line with no policy loaded: %s; want it to say that nothing is in force", first)
	}
	for _, ep := range cli.Endpoints() {
		if !strings.Contains(first, ep) {
			t.Errorf("first warn line does not name the etcd endpoint %s: %s", ep, first)
		}
	}
}
