package collector

import (
	"bytes"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// foreignBatch is a protobuf request, batch id id, of n records stamped
// now, each with attrs foreign attributes of a one-byte key and value:
// ten bytes of body each, and a map entry of the decoded record, so that
// the records decode to eight times the bytes of the body (an outside
// review's pathological batch: 10,000 records of 64 attributes, 7 MB).
func foreignBatch(id string, n, attrs int) []byte {
	var rec []byte
	rec = protowire.AppendTag(rec, fLRTime, protowire.Fixed64Type)
	rec = protowire.AppendFixed64(rec, uint64(time.Now().UnixNano()))
	for a := range attrs {
		val := protowire.AppendBytes(protowire.AppendTag(nil, fAnyString, protowire.BytesType), []byte{'v'})
		kv := protowire.AppendBytes(protowire.AppendTag(nil, fKVKey, protowire.BytesType), []byte{byte('!' + a)})
		kv = protowire.AppendBytes(protowire.AppendTag(kv, fKVValue, protowire.BytesType), val)
		rec = protowire.AppendBytes(protowire.AppendTag(rec, fLRAttributes, protowire.BytesType), kv)
	}
	var scope []byte
	for range n {
		scope = protowire.AppendBytes(protowire.AppendTag(scope, fSLLogRecords, protowire.BytesType), rec)
	}
	val := protowire.AppendBytes(protowire.AppendTag(nil, fAnyString, protowire.BytesType), []byte(id))
	kv := protowire.AppendBytes(protowire.AppendTag(nil, fKVKey, protowire.BytesType), []byte("portcullis.batch_id"))
	kv = protowire.AppendBytes(protowire.AppendTag(kv, fKVValue, protowire.BytesType), val)
	res := protowire.AppendBytes(protowire.AppendTag(nil, fResAttributes, protowire.BytesType), kv)
	rl := protowire.AppendBytes(protowire.AppendTag(nil, fRLResource, protowire.BytesType), res)
	rl = protowire.AppendBytes(protowire.AppendTag(rl, fRLScopeLogs, protowire.BytesType), scope)
	return protowire.AppendBytes(protowire.AppendTag(nil, fReqResourceLogs, protowire.BytesType), rl)
}

// postStatus posts a protobuf body with token and returns the status (0
// when the request failed), for use off the test's goroutine.
func postStatus(url, token string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", FormatProtobuf)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// One sender's token (a compromised sidecar) posts many batches at once
// whose records decode to eight times their body (a map of 64 foreign
// attributes per record) while the store is busy (its lock held, as by a
// slow fsync). The requests waiting for the store hold their bodies,
// within the in-flight budget, and at most decodeSlots decoded batches
// of at most MaxDecodedBytes each: not a decoded batch per request, 16
// MB each here (an outside review measured 0.5 to 1 GB for one token's
// share of the budget). Once the store is free, every batch is stored.
// Not parallel: it reads the process's heap.
func TestDecodedBatchesHeldWithinBound(t *testing.T) {
	const conns, records, attrs = 14, 3000, 64
	dir, key := t.TempDir(), newTestKey(t)
	srv, st := startNamedCollector(t, dir, key, Config{UnauthConnsPerClient: conns + 8})
	col := srv.Config.Handler.(*Collector)
	bodies := make([][]byte, conns)
	sent := int64(0)
	for i := range bodies {
		bodies[i] = foreignBatch("pathological-"+string(rune('a'+i)), records, attrs)
		sent += int64(len(bodies[i]))
	}
	t.Logf("%d batches of %d bytes", conns, len(bodies[0]))

	base := liveHeap()
	st.mu.Lock() // the store is busy
	locked := true
	defer func() {
		if locked {
			st.mu.Unlock()
		}
	}()
	results := make(chan int, conns)
	for _, body := range bodies {
		go func() { results <- postStatus(srv.URL, aliceToken, body) }()
	}
	// Settled: every body read (they stay reserved until the append) and
	// the live heap unchanged by more than a MiB for two seconds (the
	// decoding done that can be done).
	waitFor(t, "the bodies read", func() bool { return col.inflight.held.Load() >= sent || len(results) > 0 })
	heap, quiet, start := liveHeap()-base, time.Now(), time.Now()
	for time.Since(quiet) < 2*time.Second && len(results) == 0 {
		time.Sleep(20 * time.Millisecond)
		if h := liveHeap() - base; h-heap > 1<<20 || heap-h > 1<<20 {
			heap, quiet = h, time.Now()
		}
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("not settled after two minutes: %d MiB of heap", heap>>20)
		}
	}
	if len(results) > 0 {
		t.Fatalf("a batch was answered (%d) while the store was busy", <-results)
	}
	heap = liveHeap() - base
	held := col.inflight.held.Load()
	bound := held + decodeSlots*int64(col.cfg.Limits.MaxDecodedBytes) + 32<<20
	t.Logf("%d batches waiting for the store hold %d MiB of heap, %d MiB of it bodies; bound %d MiB", conns, heap>>20, held>>20, bound>>20)
	st.mu.Unlock()
	locked = false
	for range conns {
		if code := <-results; code != http.StatusOK {
			t.Errorf("a batch once the store was free: status %d, want 200", code)
		}
	}
	if heap > bound {
		t.Fatalf("%d batches waiting for a busy store hold %d MiB of the collector's heap, over their bodies (%d MiB), %d decoded batches of at most %d MiB and 32 MiB of slack",
			conns, heap>>20, held>>20, decodeSlots, col.cfg.Limits.MaxDecodedBytes>>20)
	}
	if s := st.Stats(); s.Batches != conns || s.Records != conns*records {
		t.Fatalf("stored %d batches of %d records, want %d of %d", s.Batches, s.Records, conns, conns*records)
	}
}

// A batch whose records would decode to more than MaxDecodedBytes (the
// review's: 10,000 records of 64 one-byte foreign attributes, 7 MB of
// body, 55 MB decoded) is refused 413 in the JSON error shape naming the
// limit, and nothing is stored; a sidecar's largest batch is far within
// it.
func TestDecodedBytesLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startNamedCollector(t, dir, newTestKey(t), Config{})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(foreignBatch("review", 10_000, 64)))
	req.Header.Set("Content-Type", FormatProtobuf)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	a := doRequest(t, req)
	if a.resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(a.body), `"error":"batch_too_large"`) ||
		!strings.Contains(string(a.body), "--max-batch-bytes") || !strings.Contains(string(a.body), "decode") {
		t.Fatalf("status %d, body %s; want 413 batch_too_large naming the decoded-bytes limit", a.resp.StatusCode, a.body)
	}
	if s := st.Stats(); s.Batches != 0 {
		t.Fatalf("stored %d batches, want none", s.Batches)
	}
	if code := post(t, srv.URL, aliceToken, encodeBatch("after", benchRecords(512)...), true); code != http.StatusOK {
		t.Fatalf("a sidecar's batch: status %d, want 200", code)
	}

	// The sidecar's records that decode to the most for their bytes (every
	// field empty), as many as the body limit takes: within the limit.
	const maxBody = 1 << 20
	srv, st = startNamedCollector(t, t.TempDir(), newTestKey(t), Config{MaxBodyBytes: maxBody})
	recs := make([]audit.Record, maxBody/200)
	body := encodeBatch("empty-fields", recs...)
	for len(body) > maxBody {
		recs = recs[:len(recs)*19/20]
		body = encodeBatch("empty-fields", recs...)
	}
	if code := post(t, srv.URL, aliceToken, body, true); code != http.StatusOK {
		t.Fatalf("a sidecar's batch of %d empty records, %d bytes: status %d, want 200", len(recs), len(body), code)
	}
	if s := st.Stats(); s.Records != uint64(len(recs)) {
		t.Fatalf("stored %d records, want %d", s.Records, len(recs))
	}
}

// doRequest sends req and reads its answer.
func doRequest(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return answer{resp: resp, body: b.Bytes()}
}

// withRecords is a protobuf request of n copies of the log record rec.
func withRecords(rec []byte, n int) []byte {
	var scope []byte
	for range n {
		scope = protowire.AppendBytes(protowire.AppendTag(scope, fSLLogRecords, protowire.BytesType), rec)
	}
	rl := protowire.AppendBytes(protowire.AppendTag(nil, fRLScopeLogs, protowire.BytesType), scope)
	return protowire.AppendBytes(protowire.AppendTag(nil, fReqResourceLogs, protowire.BytesType), rl)
}

// stringKV is the encoding of a KeyValue of a string.
func stringKV(key, value string) []byte {
	val := protowire.AppendBytes(protowire.AppendTag(nil, fAnyString, protowire.BytesType), []byte(value))
	kv := protowire.AppendBytes(protowire.AppendTag(nil, fKVKey, protowire.BytesType), []byte(key))
	return protowire.AppendBytes(protowire.AppendTag(kv, fKVValue, protowire.BytesType), val)
}

// What the decoder counts against MaxDecodedBytes (recordBytes and
// heldBytes a record) covers what the decoded records hold on the heap,
// for records as a sidecar sends them, foreign attributes by the map
// sizes where Go's maps grow, long values and bodies cut to the caps,
// through both intakes (measured, so that a Go release that grows maps
// shows here). Not parallel: it reads the process's heap.
func TestHeldBytesCoverTheHeap(t *testing.T) {
	long := strings.Repeat("x", 3000)
	attrsRec := func(n int, value string) []byte {
		var rec []byte
		for a := range n {
			rec = protowire.AppendBytes(protowire.AppendTag(rec, fLRAttributes, protowire.BytesType), stringKV("attr."+strconv.Itoa(a), value))
		}
		return rec
	}
	bodyRec := protowire.AppendBytes(protowire.AppendTag(nil, fLRBody, protowire.BytesType),
		protowire.AppendBytes(protowire.AppendTag(nil, fAnyString, protowire.BytesType), []byte(long+long)))
	var arr []byte // an array of 500 empty values
	for range 500 {
		arr = protowire.AppendBytes(protowire.AppendTag(arr, 1, protowire.BytesType), nil)
	}
	nestedKV := protowire.AppendBytes(protowire.AppendTag(nil, fKVKey, protowire.BytesType), []byte("nested"))
	nestedKV = protowire.AppendBytes(protowire.AppendTag(nestedKV, fKVValue, protowire.BytesType),
		protowire.AppendBytes(protowire.AppendTag(nil, fAnyArray, protowire.BytesType), arr))
	textRec := protowire.AppendBytes(protowire.AppendTag(nil, fLRAttributes, protowire.BytesType), stringKV(audit.AttrTenant, long))
	shapes := []struct {
		name string
		body []byte
	}{
		{"sidecar", benchBatch(512)},
		{"1 foreign", foreignBatch("f", 1000, 1)},
		{"9 foreign", foreignBatch("f", 1000, 9)},
		{"57 foreign", foreignBatch("f", 1000, 57)},
		{"64 foreign", foreignBatch("f", 1000, 64)},
		{"17 named foreign", withRecords(attrsRec(17, "v"), 1000)},
		{"long foreign values", withRecords(attrsRec(4, long), 500)},
		{"long bodies", withRecords(bodyRec, 500)},
		{"long text", withRecords(textRec, 500)},
		{"empty records", withRecords(nil, 5000)},
		{"nested arrays", withRecords(protowire.AppendBytes(protowire.AppendTag(nil, fLRAttributes, protowire.BytesType), nestedKV), 100)},
	}
	for _, sh := range shapes {
		for _, format := range []string{FormatProtobuf, FormatJSON} {
			body := sh.body
			if format == FormatJSON {
				var req logspb.LogsData
				if err := proto.Unmarshal(body, &req); err != nil {
					t.Fatal(err)
				}
				body, _ = protojson.Marshal(&req)
			}
			const n = 8
			if format == FormatJSON {
				jsonMessageCovered(t, sh.name, body)
			}
			batches := make([]*Batch, n)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.GC() // the pools' victims too, which the next would free
			runtime.ReadMemStats(&before)
			for i := range batches {
				b, err := DecodeBatch(body, format)
				if err != nil {
					t.Fatalf("%s %s: %v", sh.name, format, err)
				}
				batches[i] = b
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			counted := 0
			for _, b := range batches {
				// The record slice by capacity (its spare room is not
				// counted), and 16 KiB for the Batch, its strings and the
				// slice's rounding to pages.
				counted += cap(b.Records)*recordBytes + 16<<10
				for i := range b.Records {
					counted += b.Records[i].heldBytes()
				}
			}
			runtime.KeepAlive(batches)
			held := int(after.HeapAlloc) - int(before.HeapAlloc)
			t.Logf("%s, %s: %d records hold %d bytes a batch, counted %d", sh.name, format, len(batches[0].Records), held/n, counted/n)
			if held > counted {
				t.Errorf("%s, %s: decoded batches hold %d bytes each, more than the %d counted", sh.name, format, held/n, counted/n)
			}
		}
	}
}

// emptyJSONRecords is an OTLP JSON body of n empty log records.
func emptyJSONRecords(n int) []byte {
	return []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[` + strings.TrimSuffix(strings.Repeat("{},", n), ",") + `]}]}]}`)
}

// A JSON body is decoded into the generated types before its records are
// counted, and an empty record's message takes some 200 bytes for its 3
// bytes of JSON: a 1.9 MB body of 640,000 empty records (within the
// objects check) allocated 129 MB before it was refused for its records.
// Such a body is refused before it is decoded, naming the decoded-batch
// limit. Not parallel: it reads the process's allocation count.
func TestJSONMessageWithinDecodedLimit(t *testing.T) {
	srv, st := startNamedCollector(t, t.TempDir(), newTestKey(t), Config{})
	body := emptyJSONRecords(640_000 - 3)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", FormatJSON)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	a := doRequest(t, req)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("a JSON body of %d bytes: %d, %s; %d MiB allocated", len(body), a.resp.StatusCode, a.body, allocated>>20)
	if a.resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(a.body), "--max-batch-bytes") {
		t.Fatalf("status %d, body %s; want 413 naming the decoded-batch limit", a.resp.StatusCode, a.body)
	}
	if allocated > 32<<20 {
		t.Fatalf("a JSON body of %d bytes refused after %d MiB of allocation, more than the 32 MiB limit of a decoded batch", len(body), allocated>>20)
	}
	// An OTLP SDK's batch (512 records of a few attributes) is decoded.
	var lreq logspb.LogsData
	if err := proto.Unmarshal(foreignBatch("sdk", 512, 12), &lreq); err != nil {
		t.Fatal(err)
	}
	body, _ = protojson.Marshal(&lreq)
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", FormatJSON)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	if a := doRequest(t, req); a.resp.StatusCode != http.StatusOK {
		t.Fatalf("an SDK's JSON batch: status %d, body %s; want 200", a.resp.StatusCode, a.body)
	}
	if s := st.Stats(); s.Records != 512 {
		t.Fatalf("stored %d records, want 512", s.Records)
	}
}

// jsonMessageCovered fails t unless jsonMessageBytes covers what the
// generated message of the JSON body holds.
func jsonMessageCovered(t *testing.T, name string, body []byte) {
	t.Helper()
	const n = 4
	msgs := make([]*logspb.LogsData, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range msgs {
		msgs[i] = new(logspb.LogsData)
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(msgs)
	held, counted := (int(after.HeapAlloc)-int(before.HeapAlloc))/n, jsonMessageBytes(jsonObjects(body), len(body))
	t.Logf("%s: JSON of %d bytes decodes to a message of %d bytes, counted %d", name, len(body), held, counted)
	if held > counted {
		t.Errorf("%s: JSON of %d bytes decodes to a message of %d bytes, more than the %d counted", name, len(body), held, counted)
	}
}
