package collector

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// escapingBatch is a protobuf batch of id with one record stamped now
// whose body (4 KiB) and 8 foreign attributes (1 KiB each) are characters
// JSON escapes: '<' and control characters, six bytes stored for one sent,
// and U+2028, six for three.
func escapingBatch(id string, now time.Time) []byte {
	text := func(n int) string {
		return strings.Repeat("<\x01\x1f>&", n/5+1)[:n-3] + "\u2028"
	}
	var rec []byte
	rec = protowire.AppendFixed64(protowire.AppendTag(rec, fLRTime, protowire.Fixed64Type), uint64(now.UnixNano()))
	for a := range 8 {
		rec = protowire.AppendBytes(protowire.AppendTag(rec, fLRAttributes, protowire.BytesType), stringKV("app.a"+strconv.Itoa(a), text(maxForeignValue)))
	}
	body := protowire.AppendBytes(protowire.AppendTag(nil, fAnyString, protowire.BytesType), []byte(text(maxForeignBody)))
	rec = protowire.AppendBytes(protowire.AppendTag(rec, fLRBody, protowire.BytesType), body)
	scope := protowire.AppendBytes(protowire.AppendTag(nil, fSLLogRecords, protowire.BytesType), rec)
	res := protowire.AppendBytes(protowire.AppendTag(nil, fResAttributes, protowire.BytesType), stringKV("portcullis.batch_id", id))
	rl := protowire.AppendBytes(protowire.AppendTag(nil, fRLResource, protowire.BytesType), res)
	rl = protowire.AppendBytes(protowire.AppendTag(rl, fRLScopeLogs, protowire.BytesType), scope)
	return protowire.AppendBytes(protowire.AppendTag(nil, fReqResourceLogs, protowire.BytesType), rl)
}

// quotaRig is a collector over loopback with a sender quota, its store in
// dir and its clock moved by the test.
func quotaRig(t *testing.T, maxBody, quota int64) (url, dir string, clock *atomic.Int64) {
	t.Helper()
	dir = t.TempDir()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock = new(atomic.Int64)
	at := time.Now()
	col, err := New(st, Config{Token: testToken, MaxBodyBytes: maxBody, SenderQuota: quota,
		Now: func() time.Time { return at.Add(time.Duration(clock.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	t.Cleanup(srv.Close)
	return srv.URL, dir, clock
}

// The sender quota bounds what a sender's batches take of the store's
// disk, and it charged a batch its bytes (or minRecordCharge a record):
// JSON escaping stores a '<' or a control character in six bytes, so
// batches full of them filled the disk some six times faster than the
// quota, and a batch of no records, a few dozen bytes, is stored as an
// entry of some 450 (its id, sender and time, chain hashes and
// signature): ten times. What a stored batch's entry takes of the disk is
// now charged, beyond what was taken before it was stored; a batch
// storing more than the sender's bucket holds puts it in debt, which its
// next batches wait out. Over loopback, the clock held still and then
// moved by the test; bytes on disk against the quota.
func TestSenderQuotaChargesWhatTheStoreWrites(t *testing.T) {
	t.Parallel()
	t.Run("escaped records", func(t *testing.T) {
		t.Parallel()
		const maxBody, quota = 16 << 10, 256 << 10
		url, dir, _ := quotaRig(t, maxBody, quota)
		before, codes := dirBytes(t, dir), map[string]int{}
		for i := range 30 {
			code, e, _ := postAnswer(t, url, testToken, escapingBatch("esc-"+strconv.Itoa(i), time.Now()))
			codes[strconv.Itoa(code)+" "+e]++
		}
		// The last batch stored may overdraw the bucket by what it
		// stores: at most six times a batch's bytes, and its entry.
		if grown, most := dirBytes(t, dir)-before, int64(quota+6*maxBody+1024); grown > most {
			t.Errorf("30 batches of escaped text (answers %v) grew the store by %d bytes, past the sender's quota of %d bytes a minute and one batch (%d)", codes, grown, quota, most)
		}
		if codes["429 sender_quota"] == 0 {
			t.Errorf("answers %v, want the batches past the quota refused 429 sender_quota", codes)
		}
	})
	t.Run("empty batches", func(t *testing.T) {
		t.Parallel()
		const maxBody, quota = 8 << 10, 8 << 10
		url, dir, _ := quotaRig(t, maxBody, quota)
		before, codes := dirBytes(t, dir), map[string]int{}
		for i := range 100 {
			code, e, _ := postAnswer(t, url, testToken, emptyRecordsBatch("empty-"+strconv.Itoa(i), 0))
			codes[strconv.Itoa(code)+" "+e]++
		}
		if grown := dirBytes(t, dir) - before; grown > quota+1024 {
			t.Errorf("100 batches of no records (answers %v) grew the store by %d bytes, past the sender's quota of %d bytes a minute and one entry", codes, grown, quota)
		}
		if codes["429 sender_quota"] == 0 {
			t.Errorf("answers %v, want the batches past the quota refused 429 sender_quota", codes)
		}
	})
	t.Run("a batch storing more than a minute's quota", func(t *testing.T) {
		t.Parallel()
		// The quota at its least, the largest batch: one of escaped text
		// stores several minutes' quota, and is waited out for as long.
		const maxBody, quota = 16 << 10, 16 << 10
		url, dir, clock := quotaRig(t, maxBody, quota)
		before := dirBytes(t, dir)
		if code, e, _ := postAnswer(t, url, testToken, escapingBatch("big-1", time.Now())); code != 200 {
			t.Fatalf("first batch: %d %s, want 200", code, e)
		}
		stored := dirBytes(t, dir) - before
		if stored <= 2*quota {
			t.Fatalf("the batch stored %d bytes, want more than two minutes' quota (%d) for this test", stored, 2*quota)
		}
		clock.Add(int64(time.Minute))
		if code, e, _ := postAnswer(t, url, testToken, escapingBatch("big-2", time.Now())); code != 429 || e != "sender_quota" {
			t.Errorf("a minute after a batch that stored %d bytes: %d %q, want 429 sender_quota (the quota is %d bytes a minute)", stored, code, e, quota)
		}
		clock.Add(int64(time.Duration(stored/quota+1) * time.Minute))
		if code, e, _ := postAnswer(t, url, testToken, escapingBatch("big-3", time.Now())); code != 200 {
			t.Errorf("once the debt is refilled: %d %q, want 200", code, e)
		}
	})
}
