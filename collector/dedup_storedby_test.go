package collector

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDedupStoredBy: a duplicate of a replay (its token) is answered with
// which request stored the batch: this replay's earlier sending, the
// sidecar's first post (no token), or another replay; not known for a
// batch rebuilt from the trail of an instance not heard since, nor for a
// request without a token.
func TestDedupStoredBy(t *testing.T) {
	t.Parallel()
	var d dedup
	now := time.Unix(1e9, 0)
	d.add("token:a", "old-1", 5, now) // rebuilt from the trail
	d.addLive("token:a", "i-1", 5, 0, now)
	d.addLive("token:a", "i-2", 5, 7, now)
	for _, c := range []struct {
		id   string
		by   uint64
		want string
	}{
		{"old-1", 9, ""},           // the trail does not say
		{"old-1", 9, ""},           // nor after a duplicate was heard
		{"i-1", 0, ""},             // no token: nothing said
		{"i-1", 9, storedByLive},   //
		{"i-2", 7, storedByThis},   //
		{"i-2", 9, storedByBefore}, //
	} {
		if got := d.storedBy("token:a", c.id, c.by); got != c.want {
			t.Errorf("storedBy(%q, %d) = %q, want %q", c.id, c.by, got, c.want)
		}
	}
	for i := 3; i < 3+dedupCounts; i++ { // i-2 out of the recent ones
		d.addLive("token:a", "i-"+strconv.Itoa(i), 5, 0, now)
	}
	if got := d.storedBy("token:a", "i-2", 7); got != storedByBefore {
		t.Errorf("a batch past the recent ones of an instance heard: %q, want %q", got, storedByBefore)
	}
}

// FuzzReplayToken: a Portcullis-Replay header is a token only as 16 hex
// digits, not all zero; anything else is none.
func FuzzReplayToken(f *testing.F) {
	for _, seed := range []string{"", "0000000000000000", "00000000000000ff", "ffffffffffffffff", "+000000000000001", "0x00000000000001", "1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok := replayToken(v)
		if tok == 0 {
			return
		}
		if len(v) != 16 || strconv.FormatUint(tok, 16) != strings.TrimLeft(strings.ToLower(v), "0") {
			t.Fatalf("replayToken(%q) = %x", v, tok)
		}
	})
}
