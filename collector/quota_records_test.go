package collector

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// emptyRecordsBatch is a protobuf batch of id holding n empty log
// records: two bytes each on the wire.
func emptyRecordsBatch(id string, n int) []byte {
	var scope []byte
	for range n {
		scope = protowire.AppendBytes(protowire.AppendTag(scope, fSLLogRecords, protowire.BytesType), nil)
	}
	res := protowire.AppendBytes(protowire.AppendTag(nil, fResAttributes, protowire.BytesType), stringKV("portcullis.batch_id", id))
	rl := protowire.AppendBytes(protowire.AppendTag(nil, fRLResource, protowire.BytesType), res)
	rl = protowire.AppendBytes(protowire.AppendTag(rl, fRLScopeLogs, protowire.BytesType), scope)
	return protowire.AppendBytes(protowire.AppendTag(nil, fReqResourceLogs, protowire.BytesType), rl)
}

// dirBytes is the size of the files under dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// The sender quota bounds what a sender's batches take of the store's
// disk: it counted a batch's decompressed bytes only, and a record stores
// some 300 bytes however few it has on the wire, an empty one two. A
// stolen token sending batches of 4,000 empty records (8 KB each) had 20
// of them stored within a quota of 1 MiB a minute: 24 MB on disk, 150
// times its bytes, so the quota let it fill the disk at the disk's speed
// after all. A batch now counts at least minRecordCharge bytes a record,
// what an empty record stores, and such batches past the quota are
// answered 429 sender_quota. Over loopback, the clock held still.
func TestSenderQuotaCountsWhatRecordsStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	at := time.Now()
	st, err := OpenStore(dir, StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const quota = 1 << 20
	col, err := New(st, Config{Token: testToken, MaxBodyBytes: 1 << 20, SenderQuota: quota, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	t.Cleanup(srv.Close)
	before := dirBytes(t, dir)
	codes := map[string]int{}
	for i := range 20 {
		code, e, _ := postAnswer(t, srv.URL, testToken, emptyRecordsBatch("bomb-"+strconv.Itoa(i+1), 4000))
		codes[strconv.Itoa(code)+" "+e]++
	}
	if grown := dirBytes(t, dir) - before; grown > 2*quota {
		t.Errorf("20 batches of 4,000 empty records (answers %v) grew the store by %d bytes, more than twice the sender's quota of %d bytes a minute", codes, grown, quota)
	}
	if codes["429 sender_quota"] == 0 {
		t.Errorf("answers %v, want the batches past the quota refused 429 sender_quota", codes)
	}
}
