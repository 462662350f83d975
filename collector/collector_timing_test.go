package collector

import (
	"bytes"
	"net/http"
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
