package collector

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVerifyFindsNewestDigestDeleted: the newest sealed segment's digest
// deleted, its file left, and verify took the segment for the open one,
// every entry of it signed: it passed. The signed head says which
// segment was sealed last (signed again at each seal), and verify
// reports the digest missing.
func TestVerifyFindsNewestDigestDeleted(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1500}, 0, 12)
	st.Close()
	rep, err := Verify(dir, pubOf(key))
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep)
	_, digests, _ := listSegments(dir)
	n := digests[len(digests)-1]
	if err := os.Remove(filepath.Join(dir, digestName(n))); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(dir, pubOf(key))
	if err != nil {
		t.Fatal(err)
	}
	if !hasWhat(rep, ProblemMissingDigest) {
		t.Fatalf("verify with %s deleted: %v, want a missing digest", digestName(n), problems(rep))
	}
	if p := fmt.Sprint(rep.Problems); !strings.Contains(p, "segment "+itoa(int(n))+" was sealed") {
		t.Errorf("verify: %v; want it to say segment %d was sealed", p, n)
	}
}

// TestSealDuringVerifyIsNoMissingDigest: a running collector that seals
// its segment between verify's listing and its read of the head leaves a
// head saying a segment was sealed whose digest the listing lacks: verify
// lists the store again, as for a head naming a later segment.
func TestSealDuringVerifyIsNoMissingDigest(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	now := time.Now()
	cfg := StoreConfig{SegmentMaxAge: time.Hour, Now: func() time.Time { return now }}
	st := openTestStore(t, dir, key, cfg, 0, 3)
	defer st.Close()
	segs, digests, err := listStore(dir) // verify lists the store...
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(61 * time.Minute)
	if err := st.Maintain(now); err != nil { // ...the collector seals its segment and signs its head
		t.Fatal(err)
	}
	rep, err := verifyWith(dir, pubOf(key), VerifyOptions{Now: now}, segs, digests, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Errorf("verify of a listing taken before a seal: problems %v; want none", rep.Problems)
	}
}
