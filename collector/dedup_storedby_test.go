package collector

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDedupStoredBy: a duplicate of a replay (its token) is answered with
// which request stored the batch: this replay's earlier sending, the
// sidecar's first post (no token), or another replay; nothing for a
// request without a token, nor for a batch not stored. A replay's token
// is kept past any number of live batches of its instance, and past
// dedupReplays replays of it the batch counts stored by another replay.
func TestDedupStoredBy(t *testing.T) {
	t.Parallel()
	var d dedup
	now := time.Unix(1e9, 0)
	d.add("token:a", "i-1", 5, now) // rebuilt from the trail: no "replay" field
	d.addBy("token:a", "i-2", 5, 7, now)
	check := func(when string, cases ...struct {
		id   string
		by   uint64
		want string
	}) {
		t.Helper()
		for _, c := range cases {
			if got := d.storedBy("token:a", c.id, c.by); got != c.want {
				t.Errorf("%s: storedBy(%q, %d) = %q, want %q", when, c.id, c.by, got, c.want)
			}
		}
	}
	type tc = struct {
		id   string
		by   uint64
		want string
	}
	check("at first", tc{"i-1", 0, ""}, tc{"i-1", 9, storedByLive}, tc{"i-2", 7, storedByThis}, tc{"i-2", 9, storedByBefore}, tc{"i-9", 9, ""})
	for i := 3; i < 3+2*dedupCounts; i++ { // live batches
		d.addBy("token:a", "i-"+strconv.Itoa(i), 5, 0, now)
	}
	check("past the recent batches", tc{"i-1", 9, storedByLive}, tc{"i-2", 7, storedByThis}, tc{"i-2", 9, storedByBefore})
	for i := 100; i < 100+dedupReplays; i++ { // replays of other batches
		d.addBy("token:a", "i-"+strconv.Itoa(i), 5, uint64(i), now)
	}
	check("past the recent replays", tc{"i-2", 7, storedByBefore}, tc{"i-100", 100, storedByThis}, tc{"i-3", 7, storedByLive})
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
