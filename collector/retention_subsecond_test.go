package collector

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

// TestSubSecondRetentionRefused: a retention under one second (500ms) was
// taken, and the collector deleted segments with retention entries
// recording retention_seconds 0, which verify reports as bad retention:
// every verify failed on a trail only retention had touched. Such a
// retention is now refused, by ParseRetention (the --retention flag) and
// by OpenStore, with an error naming it.
func TestSubSecondRetentionRefused(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	now := time.Now()
	cfg := StoreConfig{SigningKey: key, SegmentMaxBytes: 3000, Retention: 500 * time.Millisecond, Now: func() time.Time { return now }}
	st, err := OpenStore(dir, cfg)
	if err == nil {
		appendBatches(t, st, 0, 8)
		now = now.Add(2 * time.Second)
		mErr := st.Maintain(now)
		st.Close()
		rep, _ := Verify(dir, pub)
		t.Fatalf("OpenStore with a retention of 500ms opened (Maintain: %v; verify then: %q); want an error naming the retention", mErr, problems(rep))
	}
	if !strings.Contains(err.Error(), "500ms") {
		t.Errorf("OpenStore error %q does not name the retention 500ms", err)
	}
	for _, s := range []string{"500ms", "999ms", "1ns", "0d1us", "36500d2562047h"} {
		if got, err := ParseRetention(s); err == nil {
			t.Errorf("ParseRetention(%q) = %v; want an error", s, got)
		}
	}
	for s, want := range map[string]time.Duration{"1s": time.Second, "0": 0, "0s": 0, "1d": 24 * time.Hour} {
		if got, err := ParseRetention(s); err != nil || got != want {
			t.Errorf("ParseRetention(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
}
