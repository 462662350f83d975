package collector

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/portcullis/portcullis/audit"
)

// BenchmarkCollectorIngest measures durable ingestion (every batch fsync'd
// before it is acknowledged) in records/s, batches of 512 records.
func BenchmarkCollectorIngest(b *testing.B) {
	const size = 512
	recs := make([]StoredRecord, size)
	for i := range recs {
		r := sampleRecord(i)
		recs[i] = Stored(&r)
	}
	b.Run("store", func(b *testing.B) {
		st, err := OpenStore(b.TempDir(), StoreConfig{SigningKey: newTestKey(b)})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := st.AppendBatch(&Batch{ID: "b" + strconv.Itoa(i), Records: recs}); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("http", func(b *testing.B) {
		srv, _ := startCollector(b, b.TempDir(), newTestKey(b), StoreConfig{})
		res := audit.Resource{Service: "svc", Host: "h", InstanceID: "bench"}
		recs := make([]audit.Record, size)
		for i := range recs {
			recs[i] = sampleRecord(5)
		}
		var buf []byte
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			buf = audit.EncodeBatch(buf, res, "bench-"+strconv.Itoa(i), recs...)
			postBatch(b, srv.URL, buf)
			i++
		}
		b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
	})
}

func postBatch(b *testing.B, url string, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", FormatProtobuf)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("post: %v %v", err, resp)
	}
	resp.Body.Close()
}

// BenchmarkDecodeBatchBody decodes a stored batch of 5,000 records as a
// scan does, reusing the records and the interned strings from one body
// to the next (QueryRecords, ReadStore).
func BenchmarkDecodeBatchBody(b *testing.B) {
	dir := b.TempDir()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(b)})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]StoredRecord, 5000)
	for i := range recs {
		r := sampleRecord(i)
		recs[i] = Stored(&r)
		recs[i].Tenant, recs[i].Client, recs[i].KeyID = "tenant-"+itoa(i%40), "client-"+itoa(i%200), "k"+itoa(i%200)
	}
	if err := st.AppendBatch(&Batch{ID: "b", Records: recs}); err != nil {
		b.Fatal(err)
	}
	st.Close()
	var body []byte
	segmentLines(filepath.Join(dir, segName(1)), func(_ int, line []byte) error {
		var l entryLine
		if decodeEntryLine(line, &l) == nil && isKind(l.Body, KindBatch) {
			body = append([]byte(nil), l.Body...)
		}
		return nil
	})
	var reuse bodyBuffers
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var e entryBody
		if !decodeBatchBodyInto(body, &e, &reuse) || len(e.Records) != len(recs) {
			b.Fatal("the fast decoder refused a stored batch")
		}
	}
}
