package collector

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// stalledGzip returns gzip of n zero bytes without its trailer: a
// reader of it decompresses the n bytes, then waits for more.
func stalledGzip(n int) []byte {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(make([]byte, n))
	zw.Flush()
	return gz.Bytes()
}

// gzipped returns data gzip-compressed, whole.
func gzipped(data []byte) []byte {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	return gz.Bytes()
}

// sendHead dials host and writes a POST /v1/logs with alice's token, the
// given Content-Length and encoding ("" for none), and the first bytes of
// the body.
func sendHead(t *testing.T, host, encoding string, length int, body []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	head := fmt.Sprintf("POST /v1/logs HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n", host, FormatProtobuf, aliceToken, length)
	if encoding != "" {
		head += "Content-Encoding: " + encoding + "\r\n"
	}
	if _, err := c.Write(append([]byte(head+"\r\n"), body...)); err != nil {
		t.Fatal(err)
	}
	return c
}

// answer is what the collector answered on a connection.
type answer struct {
	resp   *http.Response
	body   []byte
	closed bool // the collector closed the connection after the answer
	err    error
}

// readAnswer reads the answer on c and, when it says Connection: close,
// whether the collector then closes c, within timeout (a reset that lost
// the answer fails the read of the answer itself).
func readAnswer(c net.Conn, timeout time.Duration) answer {
	a, br := readResponse(c, timeout)
	if a.err == nil && a.resp.Close {
		a.closed = closedAfter(br)
	}
	return a
}

// readResponse reads the answer on c within timeout, leaving what follows
// in the returned reader.
func readResponse(c net.Conn, timeout time.Duration) (answer, *bufio.Reader) {
	c.SetReadDeadline(time.Now().Add(timeout))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return answer{err: err}, br
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return answer{resp: resp, body: body}, br
}

// closedAfter reports whether the connection br reads ends after the
// answer, within the deadline readResponse set: EOF, or a reset, which
// the collector's close sends when the refused body is still unread in
// its socket and the client reads after it (the answer was read whole
// by then; CI saw it at load average 1.4).
func closedAfter(br *bufio.Reader) bool {
	_, err := br.ReadByte()
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET)
}

// checkBusy fails t unless a is the collector's busy answer: 503 in the
// JSON error shape naming the budget, Retry-After, and the connection
// closed.
func checkBusy(t *testing.T, what string, a answer) {
	t.Helper()
	if a.err != nil {
		t.Fatalf("%s: no answer: %v", what, a.err)
	}
	var shape struct {
		Error     string `json:"error"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}
	json.Unmarshal(a.body, &shape)
	if a.resp.StatusCode != http.StatusServiceUnavailable || shape.Error != "collector_busy" ||
		!strings.Contains(shape.Message, "--max-inflight-bytes") || shape.RequestID == "" {
		t.Fatalf("%s: status %d, body %s; want 503 collector_busy naming the budget", what, a.resp.StatusCode, a.body)
	}
	if a.resp.Header.Get("Retry-After") != "1" || !a.resp.Close || !a.closed {
		t.Fatalf("%s: Retry-After %q, Connection: close %v, closed %v; want 1, true, true", what, a.resp.Header.Get("Retry-After"), a.resp.Close, a.closed)
	}
}

// One sender's token (a compromised sidecar) opens many connections; on
// each it sends 16 KB of gzip that decompress to just under
// --max-batch-bytes and then stalls before the gzip trailer. The requests
// being read hold at most the in-flight budget (8 x 16 MiB by default):
// those beyond it are answered 503 collector_busy at once and their
// connections closed, and the collector's heap grows by the budget, not
// by 16 MiB a connection (948 MiB for 48 before, an outside review's
// finding 6). Once the stalled connections close, the budget is free and
// a batch is stored again. Not parallel: it reads the process's heap.
func TestStalledGzipBodiesHeldWithinBudget(t *testing.T) {
	const conns, size = 48, 16<<20 - 4096
	dir, key := t.TempDir(), newTestKey(t)
	srv, _ := startNamedCollector(t, dir, key, Config{UnauthConnsPerClient: conns + 8})
	col := srv.Config.Handler.(*Collector)
	budget := col.cfg.MaxInflightBytes
	if budget != 8*16<<20 {
		t.Fatalf("default budget %d, want 8 x 16 MiB", budget)
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	body := stalledGzip(size)
	t.Logf("each connection sends %d bytes of gzip", len(body))

	base := liveHeap()
	start := time.Now()
	var answered atomic.Int32
	cs := make([]net.Conn, conns)
	results := make([]chan answer, conns)
	for i := range cs {
		cs[i] = sendHead(t, host, "gzip", len(body)+64, body)
		results[i] = make(chan answer, 1)
		go func() {
			a, br := readResponse(cs[i], 4*time.Minute)
			if a.err == nil {
				answered.Add(1)
				a.closed = closedAfter(br)
			}
			results[i] <- a
		}()
	}
	// Settled: every connection answered or its request holding what a
	// stalled one holds (its buffer grown to the limit and its gzip
	// reader; one refused midway holds less, until it is answered). Or,
	// for a collector that reserves nothing (as before the budget): for
	// two seconds no answer came and the live heap stayed within a MiB.
	stalledHold := col.cfg.MaxBodyBytes + 1 + gzipReaderBytes
	heap, n, quiet := liveHeap()-base, answered.Load(), time.Now()
	for int64(n)+col.inflight.held.Load()/stalledHold != conns && time.Since(quiet) < 2*time.Second {
		time.Sleep(20 * time.Millisecond)
		h, a := liveHeap()-base, answered.Load()
		if a != n || h-heap > 1<<20 || heap-h > 1<<20 {
			heap, n, quiet = h, a, time.Now()
		}
		// A bound for a collector that never settles, not a speed: under
		// -race on a loaded two-core CI machine a minute was too short
		// once (38 answered, the rest still inflating their gzip).
		if time.Since(start) > 4*time.Minute {
			t.Fatalf("not settled after four minutes: %d answered, %d MiB of heap", a, h>>20)
		}
	}
	heap = liveHeap() - base
	held := col.inflight.held.Load()
	t.Logf("%d stalled requests hold %d MiB of heap (%d MiB reserved); %d answered", conns-n, heap>>20, held>>20, n)
	if heap > budget+32<<20 {
		t.Fatalf("%d stalled requests of %d bytes of gzip each hold %d MiB of the collector's heap, over the budget of %d MiB and 32 MiB of slack",
			conns-n, len(body), heap>>20, budget>>20)
	}
	stalled := int64(conns - n)
	if stalled == 0 || stalled*size > budget/2 || held > budget/2 {
		t.Fatalf("%d requests of one sender, %d bytes each, stalled holding %d bytes; want at least one, within half the budget of %d (one sender's)", stalled, size, held, budget)
	}
	// Another sender's batches are still read: one sender holds at most
	// half the budget.
	if code := post(t, srv.URL, bobToken, encodeBatch("bob-while-alice-stalls", sampleRecord(2)), true); code != http.StatusOK {
		t.Fatalf("another sender's batch while one sender's stalled bodies hold its share: status %d, want 200", code)
	}
	var open []net.Conn
	for i, c := range cs {
		select {
		case a := <-results[i]:
			// Answered while the stalled requests still wait: at once,
			// not at the read timeout.
			checkBusy(t, "connection "+strconv.Itoa(i), a)
		default:
			open = append(open, c)
		}
	}

	metrics := getMetrics(t, srv.URL)
	for _, want := range []string{
		fmt.Sprintf("portcullis_collector_rejects_total{reason=\"busy\"} %d\n", n),
		"# TYPE portcullis_collector_inflight_bytes gauge\n",
		fmt.Sprintf("portcullis_collector_inflight_bytes %d\n", held),
		fmt.Sprintf("portcullis_collector_inflight_budget_bytes %d\n", budget),
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}

	for _, c := range open {
		c.Close()
	}
	waitFor(t, "the stalled requests' reservations back", func() bool { return col.inflight.held.Load() == 0 })
	if code := post(t, srv.URL, aliceToken, encodeBatch("after-stall", sampleRecord(1)), true); code != http.StatusOK {
		t.Fatalf("a batch after the stalled connections closed: status %d, want 200", code)
	}
	if got := storedRecords(t, dir); len(got) != 2 || got[0].Sender != "token:bob" || got[1].Sender != "token:alice" {
		t.Fatalf("stored %+v, want bob's record, then alice's", got)
	}
}

// liveHeap returns the bytes of the heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// getMetrics returns the collector's /metrics, scraped with alice's token.
func getMetrics(t *testing.T, base string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Every way a request ends gives its reservation back: a body that is
// not gzip, gzip corrupt after a few hundred KB, gzip that decompresses
// past the limit, a client that leaves mid-body (plain and gzip), and a
// request refused busy beside a stalled one. The budget is as small as
// New allows (one batch of the largest size in the half one sender may
// hold), so a reservation left
// behind would refuse the largest batch sent after them, which is stored.
func TestInflightReservationReleasedOnFailedReads(t *testing.T) {
	t.Parallel()
	const maxBody = 1 << 20
	dir, key := t.TempDir(), newTestKey(t)
	srv, _ := startNamedCollector(t, dir, key, Config{MaxBodyBytes: maxBody, MaxInflightBytes: 2 * maxRequestHold(maxBody)})
	col := srv.Config.Handler.(*Collector)
	host := strings.TrimPrefix(srv.URL, "http://")
	released := func(what string) {
		t.Helper()
		waitFor(t, what+": reservation back", func() bool { return col.inflight.held.Load() == 0 })
	}
	status := func(what string, a answer, want int) {
		t.Helper()
		if a.err != nil || a.resp.StatusCode != want {
			t.Fatalf("%s: answer %v %v, want %d", what, a.resp, a.err, want)
		}
	}

	notGzip := []byte("this is not gzip at all")
	status("not gzip", readAnswer(sendHead(t, host, "gzip", len(notGzip), notGzip), 10*time.Second), http.StatusBadRequest)
	released("not gzip")

	noise := make([]byte, 600<<10)
	for i := range noise {
		noise[i] = byte(rand.N(4)) // compresses, but not to nothing
	}
	corrupt := gzipped(noise)
	for i := len(corrupt) / 2; i < len(corrupt)/2+64; i++ {
		corrupt[i] ^= 0x5a
	}
	status("corrupt gzip", readAnswer(sendHead(t, host, "gzip", len(corrupt), corrupt), 10*time.Second), http.StatusBadRequest)
	released("corrupt gzip")

	bomb := gzipped(make([]byte, 2*maxBody))
	status("gzip past the limit", readAnswer(sendHead(t, host, "gzip", len(bomb), bomb), 10*time.Second), http.StatusRequestEntityTooLarge)
	released("gzip past the limit")

	plain := sendHead(t, host, "", maxBody-100, make([]byte, 600<<10))
	waitFor(t, "the plain body read", func() bool { return col.inflight.held.Load() >= 600<<10 })
	plain.Close()
	released("client gone mid-body")

	stall := stalledGzip(maxBody - 4096)
	gone := sendHead(t, host, "gzip", len(stall)+64, stall)
	waitFor(t, "the stalled gzip read", func() bool { return col.inflight.held.Load() >= maxBody })
	gone.Close()
	released("client gone mid-gzip")

	held := sendHead(t, host, "gzip", len(stall)+64, stall)
	waitFor(t, "the stalled gzip read", func() bool { return col.inflight.held.Load() >= maxBody })
	checkBusy(t, "beside a stalled request", readAnswer(sendHead(t, host, "gzip", len(corrupt), corrupt), 10*time.Second))
	held.Close()
	released("busy beside a stalled request")

	// The largest batch the budget was sized for: it reserves all of it.
	recs := benchRecords(4000)
	big := encodeBatch("largest", recs...)
	for len(big) > maxBody-1 {
		recs = recs[:len(recs)*9/10]
		big = encodeBatch("largest", recs...)
	}
	if code := post(t, srv.URL, aliceToken, big, true); code != http.StatusOK {
		t.Fatalf("a batch of %d bytes after the failed reads: status %d, want 200", len(big), code)
	}
	released("the stored batch")
	if got := len(storedRecords(t, dir)); got != len(recs) {
		t.Fatalf("stored %d records, want %d", got, len(recs))
	}
}

// readBody reserves what the request holds: a pooled buffer's capacity
// from the start, every growth and the gzip reader; a pooled buffer
// larger than the request may need, or than the budget has left, is
// dropped rather than reserved.
func TestReadBodyReservesWhatItHolds(t *testing.T) {
	t.Parallel()
	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const maxBody = 1 << 20
	budget := 2 * maxRequestHold(maxBody)
	col, err := New(st, Config{Token: testToken, MaxBodyBytes: maxBody, MaxInflightBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 50_000)
	read := func(pooled int, gz bool, taken int64) (*ingestBuffers, bodyHold, error) {
		col.inflight.held.Store(taken)
		body, enc := data, ""
		if gz {
			body, enc = gzipped(data), "gzip"
		}
		r := httptest.NewRequest(http.MethodPost, "/v1/logs", bytes.NewReader(body))
		r.Header.Set("Content-Encoding", enc)
		buf := &ingestBuffers{body: make([]byte, 0, pooled)}
		hold := bodyHold{budget: &col.inflight}
		got, _, err := col.readBody(httptest.NewRecorder(), r, buf, &hold)
		if err == nil && !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes, want %d", len(got), len(data))
		}
		if held := col.inflight.held.Load() - taken; held != hold.n {
			t.Fatalf("budget holds %d for the request, its hold %d", held, hold.n)
		}
		return buf, hold, err
	}
	for _, gz := range []bool{false, true} {
		for _, pooled := range []int{0, 1000, 600 << 10} {
			buf, hold, err := read(pooled, gz, 0)
			want := int64(cap(buf.body))
			if gz {
				want += gzipReaderBytes
			}
			if err != nil || hold.n != want {
				t.Errorf("gzip %v, pooled %d: err %v, reserved %d, want %d (buffer %d and the gzip reader)", gz, pooled, err, hold.n, want, cap(buf.body))
			}
			if pooled == 600<<10 && cap(buf.body) != pooled {
				t.Errorf("gzip %v: read into a new buffer of %d, not the pooled one of %d", gz, cap(buf.body), pooled)
			}
		}
	}
	// Too large for this collector's batches: not reserved, not used.
	if buf, hold, err := read(4<<20, false, 0); err != nil || cap(buf.body) >= 4<<20 || hold.n != int64(cap(buf.body)) {
		t.Errorf("pooled 4 MiB: err %v, buffer %d, reserved %d", err, cap(buf.body), hold.n)
	}
	// More than the budget has left: dropped, and the body read into a
	// buffer that fits.
	if buf, hold, err := read(1<<20, false, budget-(600<<10)); err != nil || cap(buf.body) >= 1<<20 || hold.n != int64(cap(buf.body)) {
		t.Errorf("pooled 1 MiB with 600 KiB left: err %v, buffer %d, reserved %d", err, cap(buf.body), hold.n)
	}
	// No room for the body: busy, and nothing left reserved once released.
	if _, hold, err := read(0, true, budget-(100<<10)); err != errBusy {
		t.Errorf("100 KiB left for 500 KB: err %v, want errBusy", err)
	} else if hold.release(); col.inflight.held.Load() != budget-(100<<10) {
		t.Errorf("after release the budget holds %d, want what it held before", col.inflight.held.Load())
	}
}

// New takes 8 x MaxBodyBytes when the budget is not set, and refuses one
// whose half (what one sender may hold) cannot hold the largest batch read
// through gzip, naming both.
func TestNewInflightBudget(t *testing.T) {
	t.Parallel()
	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	col, err := New(st, Config{Token: testToken, MaxBodyBytes: 1 << 20})
	if err != nil || col.cfg.MaxInflightBytes != 8<<20 {
		t.Fatalf("default budget: %v, err %v; want 8 MiB", col.cfg.MaxInflightBytes, err)
	}
	_, err = New(st, Config{Token: testToken, MaxBodyBytes: 1 << 20, MaxInflightBytes: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(1<<20)) || !strings.Contains(err.Error(), "--max-inflight-bytes") ||
		!strings.Contains(err.Error(), "--max-batch-bytes") {
		t.Fatalf("a budget of one batch's bytes: err %v; want refused, naming both", err)
	}
	if _, err := New(st, Config{Token: testToken, MaxBodyBytes: 1 << 20, MaxInflightBytes: 2*maxRequestHold(1<<20) - 1}); err == nil {
		t.Fatal("a budget whose half (one sender's) cannot hold the largest batch was taken")
	}
	if _, err := New(st, Config{Token: testToken, MaxBodyBytes: 1 << 20, MaxInflightBytes: 2 * maxRequestHold(1<<20)}); err != nil {
		t.Fatalf("the smallest budget: %v", err)
	}
}

// gzipReaderBytes, reserved for every gzip request, covers what a gzip
// reader holds while a body is read through it (measured, so that a Go
// release that grows the reader shows here).
func TestGzipReaderChargeCoversItsState(t *testing.T) {
	data := gzipped(bytes.Repeat([]byte("0123456789abcdef"), 100_000))
	const n = 200
	readers := make([]*gzip.Reader, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p := make([]byte, 100)
	for i := range readers {
		src := struct{ io.Reader }{bytes.NewReader(data)} // no ReadByte: gzip adds its bufio.Reader, as over HTTP
		zr, err := gzip.NewReader(src)
		if err != nil {
			t.Fatal(err)
		}
		zr.Read(p)
		readers[i] = zr
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(readers)
	per := int64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("a gzip reader holds %d bytes", per)
	if per > gzipReaderBytes {
		t.Fatalf("a gzip reader holds %d bytes, more than the %d reserved for it", per, gzipReaderBytes)
	}
}
