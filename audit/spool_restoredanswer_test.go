//go:build linux

package audit_test

import (
	"bytes"
	"net"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	. "github.com/portcullis/portcullis/audit"
)

// answerLostLink forwards connections to to, and for the first drops
// POSTs closes the connection as the collector's answer comes back: the
// collector stored the batch, and the sidecar never hears it.
func answerLostLink(t *testing.T, to string, drops *atomic.Int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go carryAnswerLost(c, to, drops)
		}
	}()
	return ln.Addr().String()
}

// carryAnswerLost forwards one connection of answerLostLink.
func carryAnswerLost(c net.Conn, to string, drops *atomic.Int64) {
	defer c.Close()
	up, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer up.Close()
	var post atomic.Bool // a POST carried since the collector last answered
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 && post.Swap(false) && drops.Add(-1) >= 0 {
				c.Close()
				up.Close()
				return
			}
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					c.Close()
					return
				}
			}
			if err != nil {
				c.Close()
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if bytes.Contains(buf[:n], []byte("POST ")) {
				post.Store(true)
			}
			up.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// TestSpoolRestoredBatchAnswerLostCountedRestored: a batch counted lost
// and put back (the sidecar down), stored by the collector at its first
// replay but its answer lost, is answered a duplicate when fasthttp sends
// it again (one answer lost: poster.resent), or at the replay's next
// attempt (two: replayUnsettled). That is its first restore, counted
// restored, not taken for one restored before (heldBefore).
func TestSpoolRestoredBatchAnswerLostCountedRestored(t *testing.T) {
	t.Parallel()
	for _, lost := range []int64{1, 2} {
		t.Run(strconv.FormatInt(lost, 10)+"_answers_lost", func(t *testing.T) {
			t.Parallel()
			addr := closedAddr(t)
			var drops atomic.Int64
			link := answerLostLink(t, addr, &drops)
			spool := filepath.Join(t.TempDir(), "spool")
			var logs logBuffer
			first := spoolingToNothing(t, link, spool, &logs)
			backup := loseSpool(t, first, spool, 200, 300)
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}
			copyBatches(t, backup, spool) // the oldest batches: the first replayed

			data, key := t.TempDir(), newTestKey(t)
			collectorOn(t, addr, data, key)
			drops.Store(lost)
			second := spoolingToNothing(t, link, spool, &logs)
			WaitFor(t, "the 300 spooled and 200 restored records stored", func() bool { return len(storedRecords(t, data)) == 500 })
			WaitFor(t, "the spool emptied", func() bool { return second.Stats().SpoolFiles == 0 })
			if err := second.Close(); err != nil {
				t.Fatal(err)
			}
			st := second.Stats()
			if drops.Load() >= 0 || st.Replayed != 300 || st.Restored != 200 {
				t.Errorf("%d answers left to lose; %d replayed, %d restored; want the answers lost, 300 replayed, the 200 put back restored (%+v)", max(drops.Load(), 0), st.Replayed, st.Restored, st)
			}
		})
	}
}

// TestSpoolBatchAnswerLostThenRestartCountedReplayed: a plain spooled
// batch whose replay the collector stored, every answer lost, is left in
// the spool by a sidecar stopped before it heard one. The next run's
// replay carried a new token, the collector answered it stored
// "before", and the batch counted neither replayed nor dropped: Spooled
// no longer summed to Replayed plus dropped plus the spool (a spooled
// batch copied back after its replay is the same to the collector). The
// token is the spooled file's own (name, inode and change time): the
// same for the file left in the spool, another for a copy put back.
func TestSpoolBatchAnswerLostThenRestartCountedReplayed(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	var drops atomic.Int64
	link := answerLostLink(t, addr, &drops)
	spool := filepath.Join(t.TempDir(), "spool")
	var logs logBuffer
	first := spoolingToNothing(t, link, spool, &logs)
	EmitN(t, first, 100)
	WaitFor(t, "the records spooled", func() bool { return first.Stats().SpoolRecords == 100 })
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	data, key := t.TempDir(), newTestKey(t)
	collectorOn(t, addr, data, key)
	drops.Store(1 << 40) // every answer lost
	second := spoolingToNothing(t, link, spool, &logs)
	WaitFor(t, "the oldest spooled batch stored", func() bool { return len(storedRecords(t, data)) > 0 })
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if st := second.Stats(); st.Replayed != 0 || st.SpoolRecords != 100 {
		t.Fatalf("the run whose answers were lost: %+v; want nothing replayed, the batches left in the spool", st)
	}

	drops.Store(0)
	third := spoolingToNothing(t, link, spool, &logs)
	WaitFor(t, "the spool emptied", func() bool { return third.Stats().SpoolFiles == 0 })
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
	if st := third.Stats(); st.Replayed != 100 || st.Restored != 0 || len(storedRecords(t, data)) != 100 {
		t.Errorf("the next run: %d replayed, %d restored; want the 100 spooled replayed, with the batch the collector stored at the run before, never acknowledged (%+v)", st.Replayed, st.Restored, st)
	}
}

// TestSpoolRestoredBatchAnswerLostThenCollectorRestartCountedRestored: as
// TestSpoolRestoredBatchAnswerLostCountedRestored, but every answer is
// lost and the sidecar stops before it hears one; the collector restarts
// before the next run replays the batch again, with the same token. The
// restarted collector did not know which request stored the batch and
// said nothing; the sidecar, by its old rule, took the restored batch for
// one held before, and its records counted neither restored nor as
// dropped for good. The collector keeps the token with the batch now, and
// answers "this".
func TestSpoolRestoredBatchAnswerLostThenCollectorRestartCountedRestored(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	var drops atomic.Int64
	link := answerLostLink(t, addr, &drops)
	spool := filepath.Join(t.TempDir(), "spool")
	var logs logBuffer
	first := spoolingToNothing(t, link, spool, &logs)
	backup := loseSpool(t, first, spool, 200, 300)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	copyBatches(t, backup, spool) // the oldest batches: the first replayed

	data, key := t.TempDir(), newTestKey(t)
	stop := collectorUntil(t, addr, data, key)
	drops.Store(1 << 40) // every answer lost
	second := spoolingToNothing(t, link, spool, &logs)
	WaitFor(t, "the first batch put back stored", func() bool { return len(storedRecords(t, data)) > 0 })
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	stored := len(storedRecords(t, data))
	if st := second.Stats(); st.Restored != 0 || st.Replayed != 0 || stored == 0 || stored >= 200 {
		t.Fatalf("the run whose answers were lost: %d records stored, %+v; want the first batch put back stored, nothing counted", stored, st)
	}
	stop()

	t.Cleanup(collectorUntil(t, addr, data, key))
	drops.Store(0)
	third := spoolingToNothing(t, link, spool, &logs)
	WaitFor(t, "the spool emptied", func() bool { return third.Stats().SpoolFiles == 0 })
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
	if st := third.Stats(); st.Replayed != 300 || st.Restored != 200 || len(storedRecords(t, data)) != 500 {
		t.Errorf("after the collector's restart: %d replayed, %d restored, %d stored; want 300 replayed and the 200 put back restored, the batch stored before the restart with them (%+v)",
			st.Replayed, st.Restored, len(storedRecords(t, data)), st)
	}
}
