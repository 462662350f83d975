package collector

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/rs/zerolog"
)

// storedEvents returns the lifecycle events in the store at dir.
func storedEvents(t *testing.T, dir string) []Event {
	t.Helper()
	var out []Event
	if err := QueryEvents(dir, time.Time{}, time.Time{}, func(e *Event) error { out = append(out, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// The attack of issue 21 item 6 against a real etcd and a real store: a
// key.revoke put straight under events/ (no revocation written, time,
// actor and revision made up in the value) is stored marked unverified,
// with etcd's revision and the follower's time, and counted; events the
// CLI wrote (change and event in one transaction) are verified. A restart
// from a lost resume file stores nothing twice (issue 13 item 4), and a
// damaged resume file stops the follower instead of replaying silently.
func TestForwardEventsVerifiesAgainstEtcd(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	const prefix = "/events-test"
	admin := etcdadmin.New(cli, prefix)
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
	forged := `{"time":"2020-01-01T00:00:00Z","actor":"ciso","action":"key.revoke","target":"` + spec.ID + `","reason":"leaked","details":{"etcd_revision":"3"},"revision":3}`
	put, err := cli.Put(ctx, prefix+"/events/00000000000000000001-forged", forged)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RevokeKey(ctx, spec.ID, meta); err != nil {
		t.Fatal(err)
	}

	dir, key := t.TempDir(), newTestKey(t)
	revFile := filepath.Join(dir, "events.rev")
	run := func(want int) *Store {
		t.Helper()
		st, err := OpenStore(dir, StoreConfig{SigningKey: key})
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); ForwardEvents(cctx, admin, st, revFile, zerolog.Nop()) }()
		waitFor(t, "events stored", func() bool { return len(storedEvents(t, dir)) >= want })
		cancel()
		wg.Wait()
		st.Close()
		return st
	}
	st := run(4)
	evs := storedEvents(t, dir)
	if len(evs) != 4 {
		t.Fatalf("stored %d events, want 4", len(evs))
	}
	for _, ev := range evs {
		isForged := strings.HasSuffix(ev.Key, "-forged")
		if isForged != (ev.Unverified != "") {
			t.Errorf("event %s %s at %s: unverified %q", ev.Action, ev.Target, ev.Key, ev.Unverified)
		}
		if isForged && (ev.Revision != put.Header.Revision || ev.Time.Year() == 2020 || ev.ClaimedTime.Year() != 2020) {
			t.Errorf("forged event stored with revision %d time %s claimed %s; want etcd's revision %d and the follower's time",
				ev.Revision, ev.Time, ev.ClaimedTime, put.Header.Revision)
		}
	}
	if got := st.Stats().Unverified; got != 1 {
		t.Errorf("unverified events counted %d, want 1", got)
	}
	if b, _ := os.ReadFile(revFile); strings.TrimSpace(string(b)) == "" {
		t.Error("no resume revision written")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}

	// The resume file lost: everything is read again, nothing stored twice.
	os.Remove(revFile)
	if _, err := admin.Suspend(ctx, "acme-hris", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	run(5)
	if evs := storedEvents(t, dir); len(evs) != 5 {
		t.Errorf("after replaying from 0: %d events stored, want 5 (each once)", len(evs))
	}

	// A damaged resume file: the follower stores nothing and says why.
	os.WriteFile(revFile, []byte("garbage"), 0o600)
	if _, err := ReadResumeRevision(revFile); err == nil {
		t.Error("garbled resume file read without an error")
	}
}

// logLines is a zerolog writer the test reads while the follower writes.
type logLines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A FIFO at the resume file's name (DATA/events.rev, read again each time
// the follower starts over, as after etcd was lost) held the follower in
// open(2) for good, waiting for a writer: no lifecycle event reached the
// trail from then on, nothing was logged, and cancelling did not end it.
// The FIFO is now a failed read like a damaged file, logged and retried;
// once a regular file (or none) is back, the events are stored.
func TestForwardEventsResumeFIFONotWaitedOn(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	admin := etcdadmin.New(cli, "/events-fifo-test")
	ctx := context.Background()
	doc, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "alice", Reason: "test", Ticket: "CHG-1"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	revFile := filepath.Join(dir, "events.rev")
	if err := syscall.Mkfifo(revFile, 0o600); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs logLines
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); ForwardEvents(cctx, admin, st, revFile, zerolog.New(&logs)) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("the follower did not return 20 s after its context ended: frozen in open(2)")
		}
	}()
	waitFor(t, "the follower logging the FIFO it refused", func() bool { return strings.Contains(logs.String(), "it is a FIFO") })
	if err := os.Remove(revFile); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "events stored once the FIFO is gone", func() bool { return len(storedEvents(t, dir)) >= 1 })
}

// Under etcd without authentication the follower says so: a warn line,
// and the event written under events-by/ops-alice/ stored flagged
// event.etcd_auth_off, naming ops-alice only as a claim. Before, nothing
// was logged and the trail named ops-alice as bound by her directory.
func TestForwardEventsWarnsWhenEtcdAuthIsOff(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t) // no authentication
	admin := etcdadmin.New(cli, "/events-authoff-test")
	ctx := context.Background()
	doc, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	meta := etcdadmin.Meta{Actor: "alice", Reason: "test", Ticket: "CHG-1", EtcdUser: "ops-alice"}
	if _, err := admin.PushPolicy(ctx, doc, 0, meta); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs logLines
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { ForwardEvents(cctx, admin, st, filepath.Join(dir, "events.rev"), zerolog.New(&logs)) })
	defer func() { cancel(); wg.Wait() }()
	waitFor(t, "the push stored", func() bool { return len(storedEvents(t, dir)) >= 1 })
	ev := storedEvents(t, dir)[0]
	var d map[string]string
	json.Unmarshal(ev.Details, &d)
	if !strings.HasPrefix(ev.Unverified, etcdadmin.FlagAuthOff) || d[etcdadmin.DetailEtcdUser] != "" || d[etcdadmin.DetailClaimedEtcdUser] != "ops-alice" {
		t.Errorf("stored push: unverified %q, etcd user %q, claimed %q; want flagged %s, none bound, ops-alice claimed",
			ev.Unverified, d[etcdadmin.DetailEtcdUser], d[etcdadmin.DetailClaimedEtcdUser], etcdadmin.FlagAuthOff)
	}
	if !strings.Contains(logs.String(), `"level":"warn"`) || !strings.Contains(logs.String(), "etcd authentication is off") {
		t.Errorf("log = %s; want a warn line saying etcd authentication is off", logs.String())
	}
}
