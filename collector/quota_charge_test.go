package collector

import (
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// hasBucket reports whether the quota holds a bucket for sender.
func (q *quota) hasBucket(sender string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.buckets[sender] != nil
}

// A batch's records are charged after it decodes, which it waits for a
// decode slot to do; a wait of a minute let the sweep of idle buckets
// drop its sender's bucket in between, and takeRecords then charged
// nothing (it failed open): a batch of 4,000 empty records, 8 KB on the
// wire and a minute's quota in what it stores, cost 8 KB, and the
// sender's next one was stored too. Now the record charge lands on the
// sender's bucket made again. Over loopback, with both decode slots held
// by the test and the clock moved on by it.
func TestSenderQuotaChargedAfterBucketSwept(t *testing.T) {
	t.Parallel()
	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var offset atomic.Int64
	at := time.Now()
	now := func() time.Time { return at.Add(time.Duration(offset.Load())) }
	const quota = 1 << 20
	col, err := New(st, Config{
		Tokens:       []SenderToken{{Name: "alice", Token: aliceToken}, {Name: "bob", Token: bobToken}},
		MaxBodyBytes: 1 << 20, SenderQuota: quota, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col)
	t.Cleanup(srv.Close)

	var slots []*decodeSlot
	for range decodeSlots {
		slots = append(slots, <-col.slots)
	}
	alice := make(chan int, 1)
	go func() { alice <- postStatus(srv.URL, aliceToken, emptyRecordsBatch("swept-1", 4000)) }()
	waitUntil(t, "alice's batch charged its bytes and waits for a decode slot", func() bool { return col.quota.hasBucket("token:alice") })
	offset.Add(int64(time.Minute))
	bob := make(chan int, 1)
	go func() { bob <- postStatus(srv.URL, bobToken, emptyRecordsBatch("bob-1", 1)) }()
	waitUntil(t, "bob's batch sweeps alice's idle bucket", func() bool {
		return col.quota.hasBucket("token:bob") && !col.quota.hasBucket("token:alice")
	})
	for _, s := range slots {
		col.slots <- s
	}
	if a, b := <-alice, <-bob; a != 200 || b != 200 {
		t.Fatalf("alice's batch %d, bob's %d, want both stored (200)", a, b)
	}
	code, e, _ := postAnswer(t, srv.URL, aliceToken, emptyRecordsBatch("swept-2", 4000))
	if code != 429 || e != "sender_quota" {
		t.Errorf("alice's next batch of 4,000 empty records at once: %d %q, want 429 sender_quota: the one before spent her minute's quota (%d bytes) after her bucket was swept", code, e, quota)
	}
}
