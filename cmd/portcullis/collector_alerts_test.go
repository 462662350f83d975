package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/collector"
)

// TestCollectorDetectionSnapshot: the collector writes the detection
// snapshot when it stops and the next start restores from it, replaying
// none of the trail; a snapshot edited on disk is ignored with a logged
// reason and the trail replayed (issue 14).
func TestCollectorDetectionSnapshot(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := signingKey(t)
	start := func() (*detection, *collector.Store, string, context.CancelFunc) {
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
	det, store, _, cancel := start()
	appendBatch(t, store, "b1", guesses(time.Now().UTC(), time.Millisecond, "acmehris1", "203.0.113.9", "r"))
	want := len(det.engine.Alerts())
	nop := zerolog.Nop()
	det.finalSnapshot(&nop)
	cancel()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	det, store, logged, cancel := start()
	if !strings.Contains(logged, `"snapshot_seq":1,`) || !strings.Contains(logged, `"entries_replayed":0`) || len(det.engine.Alerts()) != want || want == 0 {
		t.Errorf("restart: %d alerts (want %d), log %s; want the state from the snapshot at seq 1, nothing replayed", len(det.engine.Alerts()), want, logged)
	}
	cancel()
	store.Close()
	snap := filepath.Join(dir, "detection", "snapshot.json")
	data, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snap, bytes.Replace(data, []byte(`"count":25`), []byte(`"count":2`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	det, store, logged, cancel = start()
	defer func() { cancel(); store.Close() }()
	if !strings.Contains(logged, "detection snapshot ignored") || !strings.Contains(logged, `"entries_replayed":1`) || len(det.engine.Alerts()) != want {
		t.Errorf("restart with an edited snapshot: %d alerts, log %s; want it ignored with the reason and the trail replayed", len(det.engine.Alerts()), logged)
	}
}

// TestCollectorDetectionSnapshotAcrossKeyRotation: the start that
// rotates the store's key (--previous-signing-key) restores detection
// from the snapshot the old key signed and replays only what follows it
// (the rotation entry), not the whole trail; a start with the new key
// alone after it restores likewise. Before, the snapshot was ignored as
// not signed by the collector's key and every entry was replayed.
func TestCollectorDetectionSnapshotAcrossKeyRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old, next := signingKey(t), signingKey(t)
	start := func(key, previous ed25519.PrivateKey) (*detection, *collector.Store, string, context.CancelFunc) {
		t.Helper()
		det := &detection{key: key, previous: previous}
		store, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key, PreviousKey: previous, Detection: det.hooks()})
		if err != nil {
			t.Fatal(err)
		}
		buf := new(lockedBuffer) // the alerts opened are logged from the test's goroutine, the rest from the engine's
		log := zerolog.New(buf)
		ctx, cancel := context.WithCancel(context.Background())
		if err := det.start(ctx, examplePolicy, nil, "", dir, store, &log); err != nil {
			t.Fatal(err)
		}
		return det, store, buf.String(), cancel
	}
	stop := func(det *detection, store *collector.Store, cancel context.CancelFunc) {
		t.Helper()
		nop := zerolog.Nop()
		det.finalSnapshot(&nop)
		cancel()
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
	}
	det, store, _, cancel := start(old, nil)
	for i := range 5 {
		appendBatch(t, store, "b"+strconv.Itoa(i), guesses(time.Now().UTC(), time.Millisecond, "acmehris1", "203.0.113.9", "r"+strconv.Itoa(i)))
	}
	want := len(det.engine.Alerts())
	stop(det, store, cancel)
	oldSnapshot, err := os.ReadFile(filepath.Join(dir, "detection", "snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}

	det, store, logged, cancel := start(next, old)
	if now, _ := store.KeyRotated(); !now {
		t.Fatal("no key rotation written")
	}
	if !strings.Contains(logged, `"snapshot_seq":5,`) || !strings.Contains(logged, `"entries_replayed":1`) || len(det.engine.Alerts()) != want || want == 0 {
		t.Errorf("start rotating the key: %d alerts (want %d), log %s; want the state from the old key's snapshot at seq 5 and only the rotation entry replayed", len(det.engine.Alerts()), want, logged)
	}
	stop(det, store, cancel)

	det, store, logged, cancel = start(next, nil)
	if !strings.Contains(logged, `"snapshot_seq":6,`) || !strings.Contains(logged, `"entries_replayed":0`) || len(det.engine.Alerts()) != want {
		t.Errorf("start after the rotation: %d alerts (want %d), log %s; want the state from the snapshot at seq 6, nothing replayed", len(det.engine.Alerts()), want, logged)
	}
	stop(det, store, cancel)

	// read108: a snapshot the old key signed, put back after the rotation
	// (here the genuine one of seq 5; with the old key leaked, any state),
	// is not signed again by a later start that is still given
	// --previous-signing-key: only the start that rotates signs again.
	if err := os.WriteFile(filepath.Join(dir, "detection", "snapshot.json"), oldSnapshot, 0o600); err != nil {
		t.Fatal(err)
	}
	_, store, logged, cancel = start(next, old)
	defer func() { cancel(); store.Close() }()
	if strings.Contains(logged, "signed again") || strings.Contains(logged, `"snapshot_seq":5,`) {
		t.Errorf("a later start given the old key, an old key's snapshot planted: log %s; want it not signed again nor restored", logged)
	}
}
