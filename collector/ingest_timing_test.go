package collector

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
)

// BenchmarkCollectorIngestCPU measures the collector's CPU per stored
// record (issue 18), the figure that decides how much of a core the
// collector takes beside the load it audits: batches of 512 records as
// the sidecar's emitter sends them (one batch in flight, keep-alive),
// posted to the collector's own HTTPServer and stored durably. The
// client writes pre-encoded batches (only the batch id changes), so
// cpu-ns/record is almost all the collector's: the process's user plus
// system time over the records stored. Wall time per batch includes the
// fsync, which costs no CPU.
func BenchmarkCollectorIngestCPU(b *testing.B) {
	const size = 512
	st, p := ingestBench(b, size)
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		p.post(b)
	}
	reportCPU(b, start, size)
	b.ReportMetric(0, "ns/op")
	if got := st.Stats().Records; got != uint64(b.N*size) {
		b.Fatalf("stored %d records, want %d", got, b.N*size)
	}
}

// The benchmark's client stores a new batch with every post: were the
// batch id not rewritten, the collector would take each post after the
// first as a retry and store nothing, and the benchmark would measure
// that. Run here so that it cannot rot unseen (benchmarks do not run in
// make test).
func TestBatchPosterStoresEveryPost(t *testing.T) {
	const size, posts = 16, 3
	st, p := ingestBench(t, size)
	for range posts {
		p.post(t)
	}
	if got := st.Stats().Records; got != posts*size {
		t.Fatalf("stored %d records after %d posts of %d, want %d", got, posts, size, posts*size)
	}
}

// ingestBench starts a collector on a durable store and its HTTPServer
// on loopback, and returns the store and a poster of batches of size
// bench records to it.
func ingestBench(tb testing.TB, size int) (*Store, *batchPoster) {
	st, err := OpenStore(tb.TempDir(), StoreConfig{SigningKey: newTestKey(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	col, err := New(st, Config{Token: testToken})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := col.HTTPServer()
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return st, newBatchPoster(tb, ln.Addr().String(), benchBatch(size))
}

// benchRecords are records like those of the e2e bench (bench/policy.yaml:
// an API key, GET /v1/users/42 through one route), each with its own
// request id as the sidecar makes them.
func benchRecords(n int) []audit.Record {
	recs := make([]audit.Record, n)
	now := time.Now().UnixNano()
	for i := range recs {
		r := &recs[i]
		r.Time = now + int64(i)*20_000
		r.Duration = 180_000 + int64(i%50)*1000
		r.PolicyRevision = 7
		r.BytesIn, r.BytesOut = 0, 1024
		r.Status = 200
		r.Decision = audit.Allowed
		r.AuthMethod = audit.AuthAPIKey
		r.SourceIP = netip.MustParseAddr("127.0.0.1")
		r.Tenant, r.Client, r.Route = "acme", "crm-sync", "/v1/users/{id}"
		r.SetMethod([]byte("GET"))
		r.SetKeyID([]byte("key_bench01"))
		r.SetPath([]byte("/v1/users/42"))
		r.SetRequestID(fmt.Appendf(nil, "9f2c41d07a3e%08x", i))
		r.SetUserAgent([]byte("portcullis-bench-load"))
	}
	return recs
}

// benchBatchID is the width every batch id of benchBatch keeps.
const benchBatchID = "bench-0000000000"

// benchBatch encodes one batch of n bench records as the emitter does.
func benchBatch(n int) []byte {
	res := audit.Resource{Service: "portcullis-sidecar", Host: "bench-host", InstanceID: "3f9a1c2b7d4e5f60", Pod: "api-7d9f8-xk2lp"}
	return audit.EncodeBatch(nil, res, benchBatchID, benchRecords(n)...)
}

// batchPoster posts a batch again and again over one keep-alive
// connection, each time under a new batch id, so that the collector
// stores each.
type batchPoster struct {
	conn net.Conn
	br   *bufio.Reader
	req  []byte
	id   []byte // the batch id inside req
	seq  int
}

func newBatchPoster(b testing.TB, addr string, body []byte) *batchPoster {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	head := fmt.Sprintf("POST /v1/logs HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n",
		addr, FormatProtobuf, testToken, len(body))
	req := append([]byte(head), body...)
	at := bytes.Index(req, []byte(benchBatchID))
	if at < 0 {
		b.Fatal("batch id not found in the encoded batch")
	}
	return &batchPoster{conn: conn, br: bufio.NewReader(conn), req: req, id: req[at+6 : at+len(benchBatchID)]}
}

// post sends the batch under the next id and reads the answer.
func (p *batchPoster) post(b testing.TB) {
	p.seq++
	for i, v := len(p.id)-1, p.seq; i >= 0; i, v = i-1, v/10 {
		p.id[i] = byte('0' + v%10)
	}
	if _, err := p.conn.Write(p.req); err != nil {
		b.Fatal(err)
	}
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecodeBatchWire decodes a protobuf batch of 512 bench records
// as the intake does; allocs/op and ns/op are per batch, ns/record per
// record.
func BenchmarkDecodeBatchWire(b *testing.B) {
	const size = 512
	body := benchBatch(size)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		bt, err := DecodeBatch(body, FormatProtobuf)
		if err != nil || len(bt.Records) != size {
			b.Fatalf("decoded %v records, err %v", len(bt.Records), err)
		}
	}
	reportCPU(b, start, size)
}

// BenchmarkBatchBody encodes the chain body of a batch of 512 bench
// records, as the store does before hashing and writing it.
func BenchmarkBatchBody(b *testing.B) {
	const size = 512
	bt, err := DecodeBatch(benchBatch(size), FormatProtobuf)
	if err != nil {
		b.Fatal(err)
	}
	st := &Store{cfg: StoreConfig{Now: time.Now}}
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		body, err := st.batchBodyLocked(bt, nil)
		if err != nil || len(body) == 0 {
			b.Fatal(err)
		}
	}
	reportCPU(b, start, size)
}

// reportCPU reports the process's CPU time since start per record, the
// figure to compare on a machine that other work shares (wall time there
// counts the time other processes ran).
func reportCPU(b *testing.B, start time.Duration, records int) {
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N*records), "cpu-ns/record")
}
