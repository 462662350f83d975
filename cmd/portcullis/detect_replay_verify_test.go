package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/collector"
)

// The collector rebuilt its detection state at start from whatever the
// store held: an entry edited in a sealed segment (here, the source
// address of the guesses and of the alert they opened) was replayed, and
// the engine held an alert the collector never opened. Replay now checks
// each entry as verify does (hash, link, seq, the collector's signature),
// acts on none that fails, logs an error naming it and counts it in
// portcullis_collector_detection_unverified_entries.
func TestDetectionReplaySkipsEntriesThatFailTheirChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := signingKey(t)
	start := func() (*detection, *collector.Store, string, context.CancelFunc) { return startDetection(t, dir, key) }
	det, store, _, cancel := start()
	appendBatch(t, store, "b1", guesses(time.Now().UTC(), time.Millisecond, "acmehris1", "203.0.113.9", "r"))
	if len(det.engine.Alerts()) == 0 {
		t.Fatal("the guesses opened no alert")
	}
	cancel()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	// A restart replays the intact trail: the alert is back.
	det, store, logged, cancel := start()
	if n := len(det.engine.Alerts()); n == 0 || strings.Contains(logged, "failed its checks") {
		t.Fatalf("intact trail: %d alerts, log %s; want the alert, no entry failing", n, logged)
	}
	cancel()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	seg := filepath.Join(dir, "seg-00000001.log")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("203.0.113.9")) {
		t.Fatalf("the guesses are not in %s", seg)
	}
	if err := os.WriteFile(seg, bytes.ReplaceAll(b, []byte("203.0.113.9"), []byte("198.51.100.7")), 0o600); err != nil {
		t.Fatal(err)
	}
	det, store, logged, cancel = start()
	defer func() { cancel(); store.Close() }()
	for _, a := range det.engine.Alerts() {
		t.Errorf("edited trail: the engine holds alert %s (%s=%s) from an entry that fails its checks", a.ID, a.Group, a.Key)
	}
	checkUnverifiedLogged(t, det, logged, "segment 1 entry 0")
}

// startDetection opens the store in dir with detection (the example
// policy's rules) as the collector does, and returns what it logged.
func startDetection(t *testing.T, dir string, key ed25519.PrivateKey) (*detection, *collector.Store, string, context.CancelFunc) {
	t.Helper()
	det := &detection{key: key}
	store, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key, Detection: det.hooks()})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	ctx, cancel := context.WithCancel(context.Background())
	if err := det.start(ctx, examplePolicy, nil, "", dir, store, &log); err != nil {
		t.Fatal(err)
	}
	return det, store, buf.String(), cancel
}

// checkUnverifiedLogged checks that one entry failed at start, named in
// an error line as entry and counted in the metric.
func checkUnverifiedLogged(t *testing.T, det *detection, logged, entry string) {
	t.Helper()
	if !regexp.MustCompile(`"level":"error".*` + entry).MatchString(logged) {
		t.Errorf("log %s; want an error naming %s", logged, entry)
	}
	var m bytes.Buffer
	det.writeMetrics(&m)
	if !strings.Contains(m.String(), "\nportcullis_collector_detection_unverified_entries 1\n") {
		t.Errorf("metrics:\n%s\nwant portcullis_collector_detection_unverified_entries 1", m.String())
	}
}

// The same from a detection snapshot: the entries after it are checked as
// they are replayed, chained from the snapshot's entry. A batch stored
// after the snapshot and edited in its sealed segment opened an alert at
// the next start; it is now skipped, logged and counted.
func TestDetectionRestoreSkipsEntriesAfterSnapshotThatFailTheirChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := signingKey(t)
	det, store, _, cancel := startDetection(t, dir, key)
	nop := zerolog.Nop()
	det.finalSnapshot(&nop) // at seq 0: nothing stored yet
	appendBatch(t, store, "b1", []collector.StoredRecord{{Time: time.Now().UTC(), Method: "GET", Route: "/v1/users", Status: 200, Decision: "allowed", RequestID: "ok"}})
	det.finalSnapshot(&nop) // at seq 1
	appendBatch(t, store, "b2", guesses(time.Now().UTC(), time.Millisecond, "acmehris1", "203.0.113.9", "r"))
	if len(det.engine.Alerts()) == 0 {
		t.Fatal("the guesses opened no alert")
	}
	cancel()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, "seg-00000001.log")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seg, bytes.ReplaceAll(b, []byte("203.0.113.9"), []byte("198.51.100.7")), 0o600); err != nil {
		t.Fatal(err)
	}
	det, store, logged, cancel := startDetection(t, dir, key)
	defer func() { cancel(); store.Close() }()
	if !strings.Contains(logged, `"snapshot_seq":1,`) {
		t.Errorf("log %s; want the state restored from the snapshot at seq 1", logged)
	}
	for _, a := range det.engine.Alerts() {
		t.Errorf("the engine holds alert %s (%s=%s) from an entry that fails its checks", a.ID, a.Group, a.Key)
	}
	checkUnverifiedLogged(t, det, logged, `segment 1 entry 1 \(seq 2\)`)
}
