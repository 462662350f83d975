package collector

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOlderHeadHidesNoSignedEntry: a person who can write the store puts
// back a head.json kept from earlier (it is signed: any copy of the store
// has one). Every entry after it carries the collector's own signature,
// so verify, even against the head published in an anchor, vouches for
// them all; the readers hid them (every entry of the newest segment past
// that head) from audit query and the detection replay. The copy is one
// a crash could leave (no head was written durably after it before the
// entries, which one segment keeps so): one older than that is refused
// at the start and reported by verify (TestStartRefusesHeadOlderThanTheChainRecords).
func TestOlderHeadHidesNoSignedEntry(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 1 << 20}, 0, 2)
	older, err := os.ReadFile(filepath.Join(dir, headFile))
	if err != nil {
		t.Fatal(err)
	}
	appendBatches(t, st, 2, 10)
	doc, err := st.SignHead(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	published, err := OpenHead(doc, pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, headFile), older, 0o600); err != nil {
		t.Fatal(err)
	}

	rep, err := VerifyWith(dir, pub, VerifyOptions{Published: published})
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, rep)
	if rep.Batches != 12 {
		t.Fatalf("verify counts %d batches, want 12", rep.Batches)
	}
	var out bytes.Buffer
	n, rep, err := WriteVerifiedRecords(&out, dir, Filter{}, OutputJSON, pub, VerifyOptions{Published: published})
	if err != nil || !rep.OK() {
		t.Fatalf("query: err %v, problems %v", err, rep.Problems)
	}
	if n != 24 || strings.Contains(out.String(), FlagUnverified) {
		t.Errorf("query shows %d records (want the 24 verify vouches for, none flagged):\n%s", n, out.String())
	}
	batches := 0
	if _, err := ScanVerifiedEntries(dir, pub, 0, [32]byte{}, func(e *Entry) error {
		if !e.Verified {
			t.Errorf("entry %d not verified", e.Seq)
		}
		batches++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if batches != 12 {
		t.Errorf("the verified scan yields %d batches, want 12", batches)
	}
}
