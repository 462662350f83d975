package etcdadmin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

func TestPushReachesStore(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	doc := examplePolicy(t)
	rev1 := push(t, a, doc)
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: prefix, StateDir: t.TempDir(), Pod: "pod-a"})
	snap := r.atRevision(t, rev1)
	if got, want := len(snap.Routes), 10; got != want {
		t.Errorf("routes = %d, want %d", got, want)
	}
	doc2 := bytes.Replace(doc, []byte("name: Acme Corp"), []byte("name: Acme Corporation"), 1)
	rev2 := push(t, a, doc2)
	snap = r.atRevision(t, rev2)
	if got, want := snap.Doc.Tenants[0].Name, "Acme Corporation"; got != want {
		t.Errorf("tenant name after second push = %q, want %q", got, want)
	}
	if got := r.Revision(); got < rev2 {
		t.Errorf("Revision() = %d, want >= %d", got, rev2)
	}
	if !r.Ready() || !r.Current() {
		t.Errorf("Ready() = %v, Current() = %v, want both true", r.Ready(), r.Current())
	}
	hist, err := a.PolicyHistory(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Revision != rev1 || hist[1].Revision != rev2 || hist[1].Document != string(doc2) || hist[1].Actor != "tester" {
		t.Errorf("history = %d entries (revisions %v), want 2 at %d and %d with the documents", len(hist), revisions(hist), rev1, rev2)
	}
	waitFor(t, 10*time.Second, "member record at the second push", func() bool {
		ms, err := a.Members(context.Background())
		return err == nil && len(ms) == 1 && ms[0].Pod == "pod-a" && ms[0].Revision >= rev2 && ms[0].Digest != ""
	})
}

func revisions(h []HistoryEntry) []int64 {
	var out []int64
	for _, e := range h {
		out = append(out, e.Revision)
	}
	return out
}

func TestPushWritesEventInSameRevision(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	a := New(cli, newPrefix(t))
	rev := push(t, a, examplePolicy(t))
	evs, err := a.ListEvents(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("events = %d, want 1", len(evs))
	}
	e := evs[0]
	if e.Action != ActionPolicyPush || e.Revision != rev || e.Actor != "tester" || e.Ticket != "T-1" || e.Details["digest"] == "" {
		t.Errorf("event = %+v, want policy.push at revision %d by tester with T-1 and a digest", e, rev)
	}
	got, gotRev, err := a.GetPolicy(context.Background())
	if err != nil || gotRev != rev || !bytes.Equal(got, examplePolicy(t)) {
		t.Errorf("GetPolicy = %d bytes at %d, %v; want the document at %d", len(got), gotRev, err, rev)
	}
}

func TestPushRefusesInvalidPolicy(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t))
	_, err := a.PushPolicy(context.Background(), []byte("version: 1\nbogus: true\n"), 0, meta)
	var perr *policy.Error
	if !errors.As(err, &perr) {
		t.Fatalf("PushPolicy(unknown field) = %v, want a *policy.Error", err)
	}
	if _, _, err := a.GetPolicy(context.Background()); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetPolicy after refused push = %v, want ErrNotFound", err)
	}
}

func TestConcurrentPushesWithExpectRevision(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t))
	base := push(t, a, examplePolicy(t))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		doc := bytes.Replace(examplePolicy(t), []byte("name: Acme Corp"), fmt.Appendf(nil, "name: operator-%d", i), 1)
		wg.Go(func() { _, errs[i] = a.PushPolicy(context.Background(), doc, base, meta) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrConflict):
			t.Errorf("push %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d pushes won, want exactly 1", won)
	}
	if _, err := a.PushPolicy(context.Background(), examplePolicy(t), base, meta); !errors.Is(err, ErrConflict) {
		t.Errorf("push expecting stale revision %d = %v, want ErrConflict", base, err)
	}
}

func TestSuspendResume(t *testing.T) {
	t.Parallel()
	_, _, a, r := deployment(t)
	if _, err := a.Suspend(context.Background(), "globex-bi", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "globex-bi suspended", func() bool { s := r.store.Load(); return s != nil && s.Client("globex-bi").Suspended })
	if err := a.Resume(context.Background(), "globex-bi", meta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "globex-bi resumed", func() bool { return !r.store.Load().Client("globex-bi").Suspended })
	if err := a.Resume(context.Background(), "globex-bi", meta); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Resume = %v, want ErrNotFound", err)
	}
	evs, _ := a.ListEvents(context.Background(), time.Time{}, time.Time{})
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	if got, want := strings.Join(actions, " "), "policy.push client.suspend client.resume"; got != want {
		t.Errorf("events = %s, want %s", got, want)
	}
}
