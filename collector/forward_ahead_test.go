package collector

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/rs/zerolog"
)

// Whoever can write the collector's data directory moved events.rev ahead
// of the last event the trail holds, to etcd's revision after a key's
// revocation written while the collector was down: the follower resumed
// from there and the revocation never reached the trail, with nothing
// stored, logged or flagged to say so (attack805). The resume file is
// only a shortcut; the trail is what says which events are stored, so the
// follower resumes no later than the newest event the store holds.
func TestForwardEventsResumeFileAheadOfTheTrailLosesNoEvent(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	admin := etcdadmin.New(cli, "/events-ahead-test")
	ctx := context.Background()
	doc, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	meta := etcdadmin.Meta{Actor: "alice", Reason: "test", Ticket: "CHG-1"}
	if _, err := admin.PushPolicy(ctx, doc, 0, meta); err != nil {
		t.Fatal(err)
	}
	_, spec, err := admin.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	// An event under events/ naming an action of the follower's own is
	// stored, but is no witness: the resume revision past it is no edit.
	if _, err := cli.Put(ctx, "/events-ahead-test/events/00000000000000000009-odd", `{"action":"events.gap","actor":"bob"}`); err != nil {
		t.Fatal(err)
	}
	dir, key := t.TempDir(), newTestKey(t)
	var logs logLines
	revFile := filepath.Join(dir, "events.rev")
	run := func(what string, done func([]Event) bool) {
		t.Helper()
		st, err := OpenStore(dir, StoreConfig{SigningKey: key})
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); ForwardEvents(cctx, admin, st, revFile, zerolog.New(&logs)) }()
		waitFor(t, what, func() bool { return done(storedEvents(t, dir)) })
		cancel()
		wg.Wait()
		st.Close()
	}
	has := func(action string) func([]Event) bool {
		return func(evs []Event) bool {
			for _, e := range evs {
				if e.Action == action {
					return true
				}
			}
			return false
		}
	}
	run("the key's creation stored", has(etcdadmin.ActionEventsGap))
	if _, _, err := admin.CreateKey(ctx, "acme-hris", 0, meta); err != nil {
		t.Fatal(err)
	}
	run("a second key's creation stored after a restart", func(evs []Event) bool {
		n := 0
		for _, e := range evs {
			if e.Action == etcdadmin.ActionKeyCreate {
				n++
			}
		}
		return n == 2
	})
	if strings.Contains(logs.String(), "resume revision is past") {
		t.Errorf("an untouched resume file read as edited: %s", logs.String())
	}

	// The collector is down: the key is revoked, and the resume file moved
	// to etcd's revision past the revocation.
	rev, err := admin.RevokeKey(ctx, spec.ID, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteResumeRevision(revFile, rev); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	run("the suspension after the edited resume revision stored", has(etcdadmin.ActionClientSuspend))
	if !has(etcdadmin.ActionKeyRevoke)(storedEvents(t, dir)) {
		t.Errorf("the revocation at revision %d is not in the trail: the follower resumed from the edited events.rev (%s)", rev, strconv.FormatInt(rev, 10))
	}
	if !strings.Contains(logs.String(), "resume revision is past") {
		t.Errorf("the edited resume file followed from the trail without an error line: %s", logs.String())
	}
	counts := map[string]int{}
	for _, e := range storedEvents(t, dir) {
		counts[e.Key]++
	}
	for k, n := range counts {
		if n > 1 {
			t.Errorf("event %s stored %d times", k, n)
		}
	}
}
