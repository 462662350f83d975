package etcdadmin

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFollowEvents catches up with the stored events, then follows new
// ones, each with its revision, and resumes after a revision without
// duplicates.
func TestFollowEvents(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, examplePolicy(t))
	var mu sync.Mutex
	var got []Event
	follow := func(from int64) (stop func() error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- a.FollowEvents(ctx, from, func(evs []Event) error {
				mu.Lock()
				got = append(got, evs...)
				mu.Unlock()
				return nil
			})
		}()
		return func() error { cancel(); return <-done }
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	stop := follow(0)
	waitFor(t, 10*time.Second, "the stored push event", func() bool { return count() == 1 })
	_, spec, err := a.CreateKey(context.Background(), "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeKey(context.Background(), spec.ID, meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "three events", func() bool { return count() == 3 })
	if err := stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("FollowEvents after cancel = %v", err)
	}
	var actions []string
	for i, e := range got {
		actions = append(actions, e.Action)
		if i > 0 && e.Revision <= got[i-1].Revision {
			t.Errorf("event %d at revision %d, not after %d", i, e.Revision, got[i-1].Revision)
		}
	}
	if got, want := strings.Join(actions, " "), "policy.push key.create key.revoke"; got != want {
		t.Errorf("actions = %s, want %s", got, want)
	}
	last := got[1].Revision
	got = nil
	stop = follow(last)
	waitFor(t, 10*time.Second, "the event after the resume point", func() bool { return count() == 1 })
	stop()
	if got[0].Action != ActionKeyRevoke {
		t.Errorf("resumed at %d: first event %s, want key.revoke only", last, got[0].Action)
	}
}
