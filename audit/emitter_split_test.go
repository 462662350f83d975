package audit_test

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
)

// narrowLink stands for a link too slow to carry more than limit bytes of
// a request within the collector's read timeout: between a sidecar and a
// real collector over loopback, it forwards at most limit bytes from the
// sidecar until the collector answers, and holds back the rest. A batch
// larger than that reaches the collector's read timeout mid-body and is
// answered 408 incomplete; a smaller one passes.
func narrowLink(t *testing.T, to string, limit int) string {
	t.Helper()
	var l atomic.Int64
	l.Store(int64(limit))
	return narrowLinkOf(t, to, &l)
}

// narrowLinkOf is narrowLink whose limit the test may change.
func narrowLinkOf(t *testing.T, to string, limit *atomic.Int64) string {
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
			go carry(c, to, limit)
		}
	}()
	return ln.Addr().String()
}

// slowLinkCollector starts a real collector storing in dir on loopback,
// answering 408 a request not read within 300 ms (for the minute a slow
// link takes), and returns its address and server.
func slowLinkCollector(t *testing.T) (addr, dir string, srv *http.Server) {
	t.Helper()
	dir = t.TempDir()
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(st, collector.Config{Token: testToken, MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv = col.HTTPServer()
	srv.ReadTimeout = 300 * time.Millisecond
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); st.Close() })
	return ln.Addr().String(), dir, srv
}

// carry forwards one connection of narrowLink.
func carry(c net.Conn, to string, limit *atomic.Int64) {
	defer c.Close()
	up, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer up.Close()
	var mu sync.Mutex
	sent := 0 // bytes carried since the collector last answered
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				mu.Lock()
				sent = 0
				mu.Unlock()
				c.Write(buf[:n])
			}
			if err != nil {
				c.Close()
				return
			}
		}
	}()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		mu.Lock()
		room := max(int(limit.Load())-sent, 0)
		take := min(n, room)
		sent += take
		mu.Unlock()
		if take > 0 {
			up.Write(buf[:take])
		}
		if err != nil {
			if err == io.EOF {
				up.(*net.TCPConn).CloseWrite()
			}
			return
		}
	}
}

// Finding (review80): a batch the link could not carry within the
// collector's read timeout was answered 408 and retried whole, at the head
// of the spool, for ever: nothing behind it was delivered. The emitter now
// cuts such a batch in two, down to one record a batch if need be, and
// every record is stored once.
func TestEmitterSplitsABatchTooSlowForTheLink(t *testing.T) {
	t.Parallel()
	addr, dir, srv := slowLinkCollector(t)

	// A record is about 400 bytes encoded: a batch of 64 does not pass, one
	// of 16 does.
	const n = 128
	link := narrowLink(t, addr, 8<<10)
	cfg := FastConfig("http://"+link, t.TempDir())
	cfg.Token, cfg.FlushInterval = testToken, time.Hour
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	EmitN(t, e, n)
	WaitFor(t, "every record delivered or replayed", func() bool {
		s := e.Stats()
		return s.Delivered+s.Replayed == n
	})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	s := e.Stats()
	if s.Rejected != 0 || s.Dropped != 0 || s.SpoolFiles != 0 || s.Splits == 0 {
		t.Errorf("stats %+v, want batches split, nothing rejected, dropped or left in the spool", s)
	}
	srv.Close()
	seen := map[int64]int{} // sampleRecord(i)'s time is one nanosecond a record apart
	for _, r := range storedRecords(t, dir) {
		seen[r.Time.UnixNano()]++
	}
	if len(seen) != n {
		t.Errorf("the collector stored %d distinct records, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("record of time %d stored %d times", id, c)
		}
	}
}

// Finding (review89): splitting was reactive only. After a batch too slow
// for the link was cut down to a size that passed, every new full batch
// was sent whole first, and cost a timeout (a minute of the collector's
// on a real slow link) before it was cut in turn. New batches are now
// capped at the size that got through: after the first batch's splits,
// the next batches pass without one.
func TestEmitterCapsBatchesAfterASplit(t *testing.T) {
	t.Parallel()
	addr, _, _ := slowLinkCollector(t)

	link := narrowLink(t, addr, 8<<10) // a batch of 64 records does not pass, one of 16 does
	cfg := FastConfig("http://"+link, t.TempDir())
	cfg.Token, cfg.FlushInterval = testToken, time.Hour
	cfg.BatchCapProbe = time.Hour // no raise while the test looks
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sent := 0
	emit := func(n int) {
		EmitN(t, e, n)
		sent += n
		WaitFor(t, "every record delivered or replayed", func() bool {
			s := e.Stats()
			return s.Delivered+s.Replayed == uint64(sent)
		})
	}
	emit(cfg.BatchSize)
	first := e.Stats()
	if first.Splits == 0 || first.BatchCap <= 0 || first.BatchCap >= cfg.BatchSize {
		t.Fatalf("after a batch too slow for the link: stats %+v, want it split and new batches capped below %d", first, cfg.BatchSize)
	}
	emit(4 * cfg.BatchSize)
	if s := e.Stats(); s.Splits != first.Splits || s.Rejected != 0 || s.Dropped != 0 {
		t.Errorf("after the first batch's splits, %d more batches were split (stats %+v): new batches were not capped at the size that got through (%d records)",
			s.Splits-first.Splits, s, first.BatchCap)
	}
}

// Finding (read95): the cap came off by a quarter a minute, so a collector
// that stalled for a while (every batch timed out, the cap fell to one
// record) left the sidecar shipping one record a batch for 27 minutes
// after it came back. A link that carries full batches again gets them
// within a few probes.
func TestEmitterBatchCapComesOff(t *testing.T) {
	t.Parallel()
	addr, _, _ := slowLinkCollector(t)

	var limit atomic.Int64
	limit.Store(2 << 10) // a few records a request
	cfg := FastConfig("http://"+narrowLinkOf(t, addr, &limit), t.TempDir())
	cfg.Token, cfg.FlushInterval, cfg.BatchCapProbe = testToken, time.Hour, 50*time.Millisecond
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sent := 0
	emit := func(n int) {
		EmitN(t, e, n)
		sent += n
		WaitFor(t, "every record delivered or replayed", func() bool {
			s := e.Stats()
			return s.Delivered+s.Replayed == uint64(sent)
		})
	}
	emit(cfg.BatchSize)
	if s := e.Stats(); s.BatchCap <= 0 || s.BatchCap > cfg.BatchSize/4 {
		t.Fatalf("after a batch too slow for a narrow link: stats %+v, want new batches capped at a few records", s)
	}
	limit.Store(1 << 30) // the link carries everything again
	for range 100 {
		emit(cfg.BatchSize)
		if e.Stats().BatchCap == 0 {
			break
		}
		time.Sleep(2 * cfg.BatchCapProbe)
	}
	if s := e.Stats(); s.BatchCap != 0 || s.Dropped != 0 {
		t.Errorf("100 rounds of full batches after the link widened: stats %+v; want the cap off (0) and nothing dropped", s)
	}
}

// Finding (read96): a probe the link carried left the wait a narrow link
// had doubled in force, so a link that was narrow for a while (the wait
// at its 10-minute bound) and then widened had the cap doubled once every
// 10 minutes: from 8 records to 512, an hour of capped batches. A raise
// the link carries now brings the wait back to BatchCapProbe.

// TestEmitterBatchCapProbeCarriedResetsTheWait drives postN over a real
// narrow link to a real collector (the sender goroutine idle: nothing is
// emitted), standing the clock of the cap's last change back instead of
// sleeping: six probes the narrow link does not carry, then the link
// widens, a probe gets through, and one BatchCapProbe later the next
// probe doubles the cap again.
func TestEmitterBatchCapProbeCarriedResetsTheWait(t *testing.T) {
	t.Parallel()
	st, err := collector.OpenStore(t.TempDir(), collector.StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(st, collector.Config{Token: testToken, MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := col.HTTPServer()
	srv.ReadTimeout = 300 * time.Millisecond
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); st.Close() })

	const c = 2 // records the narrow link carries
	var limit atomic.Int64
	limit.Store(int64(BatchLen(c) + 600)) // the batch and its head
	if BatchLen(2*c) < BatchLen(c)+800 {
		t.Fatalf("records too small for the link: %d and %d bytes", BatchLen(c), BatchLen(2*c))
	}
	cfg := FastConfig("http://"+narrowLinkOf(t, ln.Addr().String(), &limit), t.TempDir())
	cfg.Token, cfg.FlushInterval, cfg.BatchCapProbe = testToken, time.Hour, 50*time.Millisecond
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	post := func(n int, want string) {
		t.Helper()
		if got := e.PostBatch(n); got != want {
			t.Fatalf("a batch of %d records (%d bytes, link limit %d bytes): %s, want %s", n, BatchLen(n), limit.Load(), got, want)
		}
	}
	back := func() { // the wait before the next probe has passed
		w, set := e.CapWait()
		e.SetBatchCap(e.Stats().BatchCap, set.Add(-w-cfg.BatchCapProbe))
	}
	e.SetBatchCap(c, time.Now())
	for range 6 { // probes the narrow link does not carry
		back()
		post(c, "ok") // raises the cap to 2c
		post(2*c, "slow")
		if got := e.Stats().BatchCap; got != c {
			t.Fatalf("after a probe the link did not carry: cap %d, want %d", got, c)
		}
	}
	limit.Store(1 << 30) // the link widens
	back()
	post(c, "ok")
	post(2*c, "ok") // the probe carried
	e.SetBatchCap(2*c, time.Now().Add(-cfg.BatchCapProbe))
	post(2*c, "ok")
	if got := e.Stats().BatchCap; got != 4*c {
		w, _ := e.CapWait()
		t.Errorf("a batch of the cap's size %d delivered BatchCapProbe after a probe the link carried: cap %d, want %d (wait before the next raise %v)", 2*c, got, 4*c, w)
	}
}

// Finding (review98): while a raise of the cap was being tried, any batch
// too slow for the link doubled the wait before the next raise, as if the
// raise had failed: a batch no larger than the cap before the raise
// (spooled earlier, or flushed part full) does not try the raise, and its
// timeout says the link narrowed, not that the raise was too much. A few
// such during probes had the wait at its 10-minute bound with no raise
// ever refused. Such a batch lowers the cap and ends the probe, the wait
// unchanged.
func TestEmitterBatchCapSmallBatchSlowWhileProbingKeepsTheWait(t *testing.T) {
	t.Parallel()
	addr, _, _ := slowLinkCollector(t)
	const c = 4 // the cap before the raise
	var limit atomic.Int64
	limit.Store(1 << 30)
	cfg := FastConfig("http://"+narrowLinkOf(t, addr, &limit), t.TempDir())
	cfg.Token, cfg.FlushInterval, cfg.BatchCapProbe = testToken, time.Hour, 50*time.Millisecond
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	post := func(n int, want string) {
		t.Helper()
		if got := e.PostBatch(n); got != want {
			t.Fatalf("a batch of %d records (%d bytes, link limit %d bytes): %s, want %s", n, BatchLen(n), limit.Load(), got, want)
		}
	}
	for round := range 4 {
		e.SetBatchCap(c, time.Now().Add(-time.Hour)) // the wait before the next raise has passed
		post(c, "ok")                                // the raise: the cap is 2c
		if got := e.Stats().BatchCap; got != 2*c {
			t.Fatalf("round %d: cap %d after a batch of the cap's size, want the raise to %d", round, got, 2*c)
		}
		limit.Store(int64(BatchLen(1))) // the link narrows below the old cap
		post(c, "slow")                 // not a batch of the raise
		limit.Store(1 << 30)
		if w, _ := e.CapWait(); w != cfg.BatchCapProbe {
			t.Fatalf("round %d: a batch of %d records (no more than the cap of %d before the raise) too slow for the link: the wait before the next raise is %v, want BatchCapProbe (%v) kept", round, c, c, w, cfg.BatchCapProbe)
		}
	}
}
