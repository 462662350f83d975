package audit_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// lateLink stands for a link that carries a request larger than big
// bytes whole but brings its answer back only after delay: between a
// sidecar and a real collector over loopback, it forwards every request
// byte at once and holds the collector's answer to such a request for
// delay before passing it on. With delay past the emitter's own timeout,
// the collector has stored the batch and the emitter never hears it.
// late counts the answers held.
func lateLink(t *testing.T, to string, big int, delay time.Duration, late *atomic.Int64) string {
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
			go carryLate(c, to, big, delay, late)
		}
	}()
	return ln.Addr().String()
}

// carryLate forwards one connection of lateLink.
func carryLate(c net.Conn, to string, big int, delay time.Duration, late *atomic.Int64) {
	defer c.Close()
	up, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer up.Close()
	var sent atomic.Int64 // request bytes carried since the collector last answered
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				if sent.Swap(0) > int64(big) {
					late.Add(1)
					time.Sleep(delay)
				}
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
			sent.Add(int64(n))
			up.Write(buf[:n])
		}
		if err != nil {
			if err == io.EOF {
				up.(*net.TCPConn).CloseWrite()
			}
			return
		}
	}
}

// Finding (review98): after the emitter's own timeout the collector may
// have stored the batch, its answer late. The emitter cut the batch in
// two, the first half keeping its id (acknowledged as a duplicate) and
// the second under a new one: the collector stored the second half's
// records a second time, in the audit trail twice. Here every batch of
// more than a few records is stored at once and answered too late, until
// the batches are small: each record must be stored once.
func TestEmitterTimedOutBatchStoredLateNotStoredTwice(t *testing.T) {
	t.Parallel()
	addr, dir, srv := slowLinkCollector(t)
	var late atomic.Int64
	// A batch of 8 records or more is answered late.
	link := lateLink(t, addr, BatchLen(8)+600, 600*time.Millisecond, &late)
	cfg := WithPostTimeout(FastConfig("http://"+link, t.TempDir()), 150*time.Millisecond)
	cfg.Token, cfg.FlushInterval, cfg.BatchCapProbe = testToken, time.Hour, time.Hour
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	n := cfg.BatchSize
	EmitN(t, e, n)
	WaitFor(t, "every record delivered or replayed", func() bool {
		s := e.Stats()
		return s.Delivered+s.Replayed == uint64(n)
	})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	s := e.Stats()
	if late.Load() == 0 || s.Rejected != 0 || s.Dropped != 0 || s.SpoolFiles != 0 {
		t.Errorf("stats %+v, %d answers late; want some late, nothing rejected, dropped or left in the spool", s, late.Load())
	}
	seen := map[int64]int{} // sampleRecord(i)'s time is one nanosecond a record apart
	for _, r := range storedRecords(t, dir) {
		seen[r.Time.UnixNano()]++
	}
	twice := 0
	for _, c := range seen {
		if c != 1 {
			twice++
		}
	}
	if len(seen) != n || twice != 0 {
		t.Errorf("the collector stored %d distinct records of %d, %d of them more than once (stats %+v)", len(seen), n, twice, s)
	}
	if g := seqGaps(t, dir); g != 0 {
		t.Errorf("%d batch sequences missing between the batches stored: read as batches lost", g)
	}
}

// A batch whose attempt ran out of the emitter's own time before the
// collector had its body (a narrow link) is not stored: the twin the
// emitter then sends takes its id with the first record, and its other
// records go again under new ids, each stored once and none lost.
func TestEmitterTimedOutBatchNotStoredGoesUnderNewIDs(t *testing.T) {
	t.Parallel()
	addr, dir, srv := slowLinkCollector(t)
	var limit atomic.Int64
	limit.Store(1 << 30)
	// The emitter gives up before the collector's read timeout (300 ms).
	cfg := WithPostTimeout(FastConfig("http://"+narrowLinkOf(t, addr, &limit), t.TempDir()), 100*time.Millisecond)
	cfg.Token, cfg.FlushInterval, cfg.BatchCapProbe = testToken, time.Hour, time.Hour
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// A first batch through a wide link, so a sequence lost after it
	// would show as missing between the batches stored.
	EmitN(t, e, cfg.BatchSize)
	WaitFor(t, "the first batch delivered", func() bool { s := e.Stats(); return s.Delivered+s.Replayed == uint64(cfg.BatchSize) })
	limit.Store(8 << 10) // a batch of 64 records does not pass, one of 16 does
	n := 3 * cfg.BatchSize
	for i := cfg.BatchSize; i < n; i++ {
		r := SampleRecord(i)
		for !e.Emit(&r) {
			time.Sleep(time.Millisecond)
		}
	}
	WaitFor(t, "every record delivered or replayed", func() bool {
		s := e.Stats()
		return s.Delivered+s.Replayed == uint64(n)
	})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	s := e.Stats()
	if s.Splits == 0 || s.Rejected != 0 || s.Dropped != 0 || s.SpoolFiles != 0 {
		t.Errorf("stats %+v; want batches split, nothing rejected, dropped or left in the spool", s)
	}
	seen := map[int64]int{}
	for _, r := range storedRecords(t, dir) {
		seen[r.Time.UnixNano()]++
	}
	twice := 0
	for _, c := range seen {
		if c != 1 {
			twice++
		}
	}
	if len(seen) != n || twice != 0 {
		t.Errorf("the collector stored %d distinct records of %d, %d of them more than once (stats %+v)", len(seen), n, twice, s)
	}
	if g := seqGaps(t, dir); g != 0 {
		t.Errorf("%d batch sequences missing between the batches stored: read as batches lost", g)
	}
}

// A sidecar that stopped after the twin of a spooled batch was stored
// (settleLate) replays the batch whole at its next start: the collector
// answers it a duplicate holding one record, and the other records go
// under new ids, stored once, not taken as delivered and lost.
func TestEmitterSpooledBatchWhoseTwinWasStoredStoredOnce(t *testing.T) {
	t.Parallel()
	addr, dir, srv := slowLinkCollector(t)
	spool := t.TempDir()
	cfg := FastConfig("http://"+closedAddr(t), spool)
	cfg.Token, cfg.BatchSize, cfg.CloseTimeout = testToken, 8, time.Millisecond
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	EmitN(t, e, 8)
	WaitFor(t, "the batch spooled", func() bool { return e.Stats().SpoolRecords == 8 })
	e.Close()
	batches, err := filepath.Glob(filepath.Join(spool, "*-8.otlp"))
	if err != nil || len(batches) != 1 {
		t.Fatalf("spool holds %d batches of 8 records (%v), want 1", len(batches), err)
	}
	data, err := os.ReadFile(batches[0])
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/logs", bytes.NewReader(Twin(t, data)))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderDuplicate) != "" {
		t.Fatalf("the twin: %s, %s %q; want it stored", resp.Status, HeaderDuplicate, resp.Header.Get(HeaderDuplicate))
	}

	cfg.URL = "http://" + addr
	e, err = NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	WaitFor(t, "the spool replayed", func() bool { return e.Stats().Replayed == 8 })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	seen := map[int64]int{}
	for _, r := range storedRecords(t, dir) {
		seen[r.Time.UnixNano()]++
	}
	twice := 0
	for _, c := range seen {
		if c != 1 {
			twice++
		}
	}
	if len(seen) != 8 || twice != 0 {
		t.Errorf("the collector stored %d distinct records of 8, %d of them more than once (stats %+v)", len(seen), twice, e.Stats())
	}
}

// seqGaps is how many sequences are missing between the batches stored in
// dir, by their records, per instance: what the evidence pack reads as
// batches lost.
func seqGaps(t *testing.T, dir string) int {
	t.Helper()
	seqs := map[string]map[uint64]bool{}
	_, err := collector.ReadStore(dir, collector.Pass{Records: func(e *collector.Entry, _ *collector.StoredRecord) error {
		inst, seq, ok := collector.SplitBatchID(e.BatchID)
		if !ok {
			t.Errorf("batch id %q has no sequence", e.BatchID)
			return nil
		}
		if seqs[inst] == nil {
			seqs[inst] = map[uint64]bool{}
		}
		seqs[inst][seq] = true
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	gaps := 0
	for _, s := range seqs {
		lo, hi := uint64(1<<63), uint64(0)
		for q := range s {
			lo, hi = min(lo, q), max(hi, q)
		}
		gaps += int(hi-lo+1) - len(s)
	}
	return gaps
}

// The same for a batch held in memory (Strict mode, the spool too small
// for it): settled by its twin, each record stored once.
func TestEmitterHeldBatchStoredLateNotStoredTwice(t *testing.T) {
	t.Parallel()
	addr, dir, srv := slowLinkCollector(t)
	var late atomic.Int64
	link := lateLink(t, addr, BatchLen(8)+600, 600*time.Millisecond, &late)
	cfg := WithPostTimeout(FastConfig("http://"+link, t.TempDir()), 150*time.Millisecond)
	cfg.Token, cfg.FlushInterval, cfg.BatchCapProbe = testToken, time.Hour, time.Hour
	cfg.Mode, cfg.SpoolMaxBytes = Strict, 1<<10 // no batch of 64 records fits
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	n := cfg.BatchSize
	EmitN(t, e, n)
	WaitFor(t, "every record delivered", func() bool {
		s := e.Stats()
		return s.Delivered+s.Replayed == uint64(n)
	})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	s := e.Stats()
	if late.Load() == 0 || s.Spooled != 0 || s.Rejected != 0 || s.Dropped != 0 {
		t.Errorf("stats %+v, %d answers late; want some late, nothing spooled (held instead), rejected or dropped", s, late.Load())
	}
	seen := map[int64]int{}
	for _, r := range storedRecords(t, dir) {
		seen[r.Time.UnixNano()]++
	}
	twice := 0
	for _, c := range seen {
		if c != 1 {
			twice++
		}
	}
	if len(seen) != n || twice != 0 {
		t.Errorf("the collector stored %d distinct records of %d, %d of them more than once (stats %+v)", len(seen), n, twice, s)
	}
}
