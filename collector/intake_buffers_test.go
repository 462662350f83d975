package collector

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/portcullis/portcullis/audit"
)

// TestIntakeReuseKeepsNoAlias: the intake reads every body into, and
// decodes into, buffers it reuses from batch to batch. What a batch's
// records hold (the strings the alert engine keeps) must not change when
// the next batches of the same size arrive: decoding copies what it keeps.
func TestIntakeReuseKeepsNoAlias(t *testing.T) {
	var mu sync.Mutex
	var kept []StoredRecord
	cfg := StoreConfig{Detection: Detection{Detect: func(_ uint64, recs []StoredRecord, _ []Event) []Event {
		mu.Lock()
		defer mu.Unlock()
		if kept == nil {
			kept = append([]StoredRecord(nil), recs...) // the strings, not copies of their bytes
		}
		return nil
	}}}
	srv, _ := startCollector(t, t.TempDir(), newTestKey(t), cfg)
	first, second := benchRecords(64), benchRecords(64)
	for i := range second {
		second[i].Tenant, second[i].Client = "ACME", "CRM-SYNC"
		second[i].SetRequestID(bytes.ToUpper(first[i].RequestID()))
		second[i].SetPath([]byte("/V1/USERS/42"))
	}
	// One P: the pool hands each request the buffers of the one before.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for i, recs := range [][]audit.Record{first, second, second, second} {
		if code := post(t, srv.URL, testToken, encodeBatch("b-"+itoa(i), recs...), false); code != http.StatusOK {
			t.Fatalf("batch %d: status %d", i, code)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(kept) != len(first) {
		t.Fatalf("kept %d records of the first batch, want %d", len(kept), len(first))
	}
	for i, r := range kept {
		if r.Tenant != "acme" || r.Client != "crm-sync" || r.Path != "/v1/users/42" || r.RequestID != string(first[i].RequestID()) {
			t.Fatalf("record %d of the first batch changed after the second: %+v", i, r)
		}
	}
}

// TestIngestBuffersTrim: a buffer over the caps is not kept for the next
// batch, so one outsized batch does not stay pinned; a decode slot's
// records are zeroed when it is given back, after a decode that failed
// midway too, so that they hold nothing of the batch alive.
func TestIngestBuffersTrim(t *testing.T) {
	b := &ingestBuffers{body: make([]byte, 0, maxPooledBody+1)}
	b.trim()
	if b.body != nil {
		t.Errorf("kept a buffer of %d bytes, want none (cap %d)", cap(b.body), maxPooledBody)
	}
	b = &ingestBuffers{body: make([]byte, 0, maxPooledBody)}
	b.trim()
	if cap(b.body) != maxPooledBody {
		t.Errorf("dropped a buffer at the cap: %d bytes", cap(b.body))
	}

	c := &Collector{slots: make(chan *decodeSlot, 1)}
	s := &decodeSlot{records: make([]StoredRecord, 0, maxPooledRecords+1)}
	c.giveDecodeSlot(s)
	if s = <-c.slots; s.records != nil {
		t.Errorf("kept a record buffer of %d records, want none (cap %d)", cap(s.records), maxPooledRecords)
	}
	s.records = make([]StoredRecord, 0, 8)
	for _, failed := range []bool{false, true} {
		recs := s.records[:2]
		if failed {
			recs = s.records[:3] // a decode that failed midway: beyond any batch
		}
		for i := range recs {
			recs[i] = StoredRecord{Tenant: "acme", Attributes: map[string]string{"k": "v"}}
		}
		var err error
		b := &Batch{Records: recs[:2]}
		if failed {
			b, err = nil, ErrMalformedBatch
		}
		s.records = s.records[:0]
		s.decoded(b, err)
		c.giveDecodeSlot(s)
		s = <-c.slots
		if len(s.records) != 0 || cap(s.records) != 8 {
			t.Fatalf("failed %v: slot kept records %d of %d, want 0 of 8", failed, len(s.records), cap(s.records))
		}
		for i, r := range s.records[:cap(s.records)] {
			if r.Tenant != "" || r.Attributes != nil {
				t.Errorf("failed %v: record %d not zeroed", failed, i)
			}
		}
	}
}

// TestReadAll reads a body whole with and without a length hint, into
// the storage it was given when that is large enough.
func TestReadAll(t *testing.T) {
	want := strings.Repeat("0123456789", 1000)
	for _, hint := range []int64{-1, 0, 10, int64(len(want)), int64(len(want)) + 5} {
		got, err := readAll(nil, iotest.HalfReader(strings.NewReader(want)), hint, math.MaxInt64, nil)
		if err != nil || string(got) != want {
			t.Fatalf("hint %d: read %d bytes, err %v; want %d", hint, len(got), err, len(want))
		}
	}
	buf := make([]byte, 0, len(want)+1)
	got, _ := readAll(buf, strings.NewReader(want), int64(len(want)), math.MaxInt64, nil)
	if &got[0] != &buf[:1][0] {
		t.Error("readAll did not read into the storage it was given")
	}
	if _, err := readAll(nil, iotest.ErrReader(io.ErrUnexpectedEOF), 0, math.MaxInt64, nil); err != io.ErrUnexpectedEOF {
		t.Errorf("err %v, want %v", err, io.ErrUnexpectedEOF)
	}
}

// TestReadAllTrustsHintOnlySoFar: a request that declares 4 MiB and sends
// 10 bytes makes readAll hold at most maxTrustedHint, not the declared
// length (a token holder's idle connections each pinned 4 MiB before).
func TestReadAllTrustsHintOnlySoFar(t *testing.T) {
	got, err := readAll(nil, strings.NewReader("0123456789"), 4<<20, math.MaxInt64, nil)
	if err != nil || string(got) != "0123456789" {
		t.Fatalf("read %q, err %v", got, err)
	}
	if cap(got) > maxTrustedHint+1 {
		t.Errorf("holds %d bytes for a 10-byte body declared as 4 MiB, want at most %d", cap(got), maxTrustedHint+1)
	}
}

// TestReserveBounded: the decoder sizes a batch's records from its first
// record, but a tiny first record in front of a large body reserves at
// most maxPooledRecords, whatever the record limit.
func TestReserveBounded(t *testing.T) {
	d := wireDecoder{lim: DecodeLimits{MaxRecords: 1 << 30}, b: &Batch{}}
	d.reserve(0, 64<<10)
	if got := cap(d.b.Records); got > maxPooledRecords {
		t.Errorf("reserved %d records for a 0-byte first record, want at most %d", got, maxPooledRecords)
	}
	d = wireDecoder{lim: DecodeLimits{MaxRecords: 10_000}, b: &Batch{}}
	d.reserve(590, 512*593)
	if got := cap(d.b.Records); got < 512 {
		t.Errorf("reserved %d records for 512 records of 590 bytes, want at least 512", got)
	}
}
