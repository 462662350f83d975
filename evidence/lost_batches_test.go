package evidence

import (
	"html"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// TestPackTellsOfBatchesThatNeverReachedTheStore: a sidecar whose spool
// filled while the collector was away dropped batches, and the pack of
// the period counted what the store held as if it were all: nothing in
// it said that a sidecar's records were missing. A sidecar numbers its
// batches, a dropped one too, so the numbers missing between the batches
// of one sidecar the store holds are batches it never got. Here a real
// emitter (the sidecar's) sends to a real collector writing real files;
// the collector goes away, the emitter's small spool fills and drops
// batches, the collector comes back on the same store and address, the
// spool is replayed and more batches follow. The pack says how many
// batches are missing, and whose, in the integrity file, the checklist
// and index.html, with a warning, and lists the sidecar's batches.
func TestPackTellsOfBatchesThatNeverReachedTheStore(t *testing.T) {
	data, key := t.TempDir(), newKey(t)
	day := time.Date(2026, 5, 12, 0, 0, 0, 0, time.UTC)
	const token = "collector-token-for-the-lost-batches-test"
	serve := func(addr string) (*httptest.Server, *collector.Store) {
		st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key, Now: func() time.Time { return day }})
		if err != nil {
			t.Fatal(err)
		}
		col, err := collector.New(st, collector.Config{Token: token, MaxBodyBytes: 1 << 20, Now: func() time.Time { return day }})
		if err != nil {
			t.Fatal(err)
		}
		var ln net.Listener
		waitUntil(t, "the collector's address", func() bool {
			ln, err = net.Listen("tcp", addr)
			return err == nil
		})
		srv := httptest.NewUnstartedServer(col)
		srv.Listener.Close()
		srv.Listener = ln
		srv.Start()
		return srv, st
	}
	srv, st := serve("127.0.0.1:0")
	const batch = 10
	e, err := audit.NewEmitter(audit.EmitterConfig{URL: srv.URL, Token: token, SpoolDir: t.TempDir(), SpoolMaxBytes: 6 << 10,
		BatchSize: batch, FlushInterval: time.Hour, InstanceID: "sidecar-a", Pod: "pod-a", RetryBudget: time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	emit := func(batches int) {
		for range batches * batch {
			n++
			r := &audit.Record{Time: day.UnixNano(), Status: 200, Decision: audit.Allowed,
				Tenant: "acme", Client: "acme-hris", Route: "/v1/users"}
			if !e.Emit(r) {
				t.Fatal("the emitter refused a record")
			}
		}
	}
	emit(2)
	waitUntil(t, "2 batches delivered", func() bool { return e.Stats().Delivered == 2*batch })
	addr := srv.Listener.Addr().String()
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	emit(12)
	waitUntil(t, "every batch spooled or dropped", func() bool {
		s := e.Stats()
		return s.Spooled+s.DroppedSpool == 12*batch
	})
	dropped := e.Stats().DroppedSpool / batch
	if dropped == 0 || e.Stats().Spooled == 0 {
		t.Fatalf("the collector away: %+v; want some batches spooled and some dropped", e.Stats())
	}
	srv, st = serve(addr)
	defer func() { srv.Close(); st.Close() }()
	// One batch at a time, each delivered (or spooled and replayed)
	// before the next: none of these is dropped.
	kept := func() bool { s := e.Stats(); return s.Delivered+s.Replayed+s.DroppedSpool == uint64(n) }
	waitUntil(t, "the spool replayed", kept)
	for range 2 {
		emit(1)
		waitUntil(t, "the batch delivered", kept)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); s.DroppedSpool != dropped*batch {
		t.Fatalf("emitter stats %+v: batches dropped after the collector came back", s)
	}
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	hist, err := HistoryFromFile("../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseRange("2026-05-12", "2026-05-12")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Pack(Config{Period: p, DataDir: data, History: hist, Out: t.TempDir(), SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.Itoa(int(dropped)) + " batches the period's sidecars numbered are not in the store"
	for _, f := range []string{FileName("APILogging", "RetentionSettings", p.Name, "md"), FileName("APIGovernance", "ISO27017Checklist", p.Name, "md"), IndexFile} {
		raw, err := os.ReadFile(filepath.Join(res.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if text := html.UnescapeString(string(raw)); !strings.Contains(text, "INCOMPLETE: "+want) || !strings.Contains(text, `"pod-a" (token:default) instance "sidecar-a.`) {
			t.Errorf("%s does not say \"INCOMPLETE: %s\", naming pod-a:\n%s", f, want, text)
		}
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, want) }) {
		t.Errorf("warnings %q: none says %q", res.Warnings, want)
	}
	ret, _ := os.ReadFile(filepath.Join(res.Dir, FileName("APILogging", "RetentionSettings", p.Name, "md")))
	if row := "| \"pod-a (token:default)\" | 1 | " + strconv.Itoa(16-int(dropped)) + " | "; !strings.Contains(string(ret), row) {
		t.Errorf("the senders table lacks %q:\n%s", row, ret)
	}
}

// waitUntil polls cond until it holds, failing the test after a minute:
// it waits for an event, and asserts nothing about speed.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
