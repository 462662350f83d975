package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// TestJunkUseCountersKeepTheStoreReadable: the sidecar's etcd role may
// put anything under approval-uses/. While the collector is down (a
// restart), a sidecar puts ten junk counters, each about 1.2 MB of '<' in
// the claimed "client" (within etcd's default request size; escaped to
// \u003c, 6 bytes each, about 75 MB in one entry). The catch-up must
// still write no segment line past MaxEntryBytes (readUse truncates long
// claims, FollowEvents splits its batches, the store splits or refuses an
// entry), so the stored events can be read back and the store reopens.
func TestJunkUseCountersKeepTheStoreReadable(t *testing.T) {
	cli := etcdClient(t)
	const prefix = "/junk-test"
	admin := etcdadmin.New(cli, prefix)
	ctx := context.Background()
	doc, err := os.ReadFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	junk := `{"client":"` + strings.Repeat("<", 1200<<10) + `"}`
	k := etcdsync.NewLayout(prefix)
	var last int64 // the revision of the last junk use
	for i := range 10 {
		if _, err := cli.Put(ctx, k.ApprovalCounter(fmt.Sprintf("junk%d", i)), junk); err != nil {
			t.Fatal(err)
		}
		resp, err := cli.Put(ctx, k.ApprovalCounter(fmt.Sprintf("junk%d", i)), junk) // version 2: a "use"
		if err != nil {
			t.Fatal(err)
		}
		last = resp.Header.Revision
	}

	dir, key := t.TempDir(), newTestKey(t)
	revFile := filepath.Join(dir, "events.rev")
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); ForwardEvents(cctx, admin, st, revFile, zerolog.Nop()) }()
	// The follower writes its resume revision after each batch it stores,
	// and it splits this catch-up into batches: any revision there is the
	// first batch stored, not the catch-up.
	waitFor(t, "the catch-up stored", func() bool { r, _ := ReadResumeRevision(revFile); return r >= last })
	cancel()
	wg.Wait()
	st.Close()

	segs, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, p := range segs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for i, line := range strings.Split(string(b), "\n") {
			if len(line) > MaxEntryBytes {
				t.Errorf("%s line %d is %d bytes, past MaxEntryBytes %d", filepath.Base(p), i+1, len(line), MaxEntryBytes)
			}
		}
	}
	size := func() (n int64) {
		for _, p := range segs {
			if fi, err := os.Stat(p); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	before := size()
	if st2, err := OpenStore(dir, StoreConfig{SigningKey: key}); err != nil {
		t.Errorf("reopening the store after the catch-up: %v", err)
	} else {
		t.Logf("reopened: stats %+v", st2.Stats())
		st2.Close()
	}
	if after := size(); after != before {
		t.Errorf("reopening the store changed its files from %d to %d bytes", before, after)
	}
	var n int
	if err := QueryEvents(dir, time.Time{}, time.Time{}, func(*Event) error { n++; return nil }); err != nil {
		t.Errorf("reading the stored events back: %v (read %d)", err, n)
	}
}

// TestAppendEventsSplitsAndRefusesOversized: the store writes events that
// together pass MaxEntryBytes as several entries, and refuses (with an
// error, storing the events before it) one too large for an entry alone,
// so it never writes a line its readers refuse.
func TestAppendEventsSplitsAndRefusesOversized(t *testing.T) {
	dir, key := t.TempDir(), newTestKey(t)
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 20<<20)
	var evs []Event
	for i := range 5 {
		evs = append(evs, Event{Time: time.Now(), Key: fmt.Sprintf("k%d", i), Revision: int64(i + 1), Action: "a", Target: "t", Reason: big})
	}
	if err := st.AppendEvents(evs); err != nil {
		t.Fatalf("100 MB of events in 20 MB events: %v", err)
	}
	huge := Event{Time: time.Now(), Key: "huge", Revision: 9, Action: "a", Reason: strings.Repeat("x", MaxEntryBytes)}
	small := Event{Time: time.Now(), Key: "small", Revision: 8, Action: "a"}
	if err := st.AppendEvents([]Event{small, huge}); !errors.Is(err, errEventTooLarge) {
		t.Errorf("an event past MaxEntryBytes: err %v, want errEventTooLarge", err)
	}
	st.Close()
	got := map[string]bool{}
	if err := QueryEvents(dir, time.Time{}, time.Time{}, func(e *Event) error { got[e.Key] = true; return nil }); err != nil {
		t.Fatalf("reading the events back: %v", err)
	}
	for _, k := range []string{"k0", "k1", "k2", "k3", "k4", "small"} {
		if !got[k] {
			t.Errorf("event %s not stored", k)
		}
	}
	if got["huge"] {
		t.Error("the oversized event was stored")
	}
}
