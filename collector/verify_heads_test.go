package collector

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// TestVerifyChecksEveryPublishedHead: audit verify and the evidence pack
// checked only the newest of the heads read (etcd and --published-head),
// so when the anchors disagreed the older one was never compared (an
// outside review). A store that holds the newest head but not an older
// one published elsewhere (a fork below it) now fails.
func TestVerifyChecksEveryPublishedHead(t *testing.T) {
	t.Parallel()
	key := newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	dir, other := t.TempDir(), t.TempDir()
	openTestStore(t, dir, key, StoreConfig{}, 0, 6).Close()
	openTestStore(t, other, key, StoreConfig{}, 50, 3).Close() // the same key, another chain
	head := func(d string) *PublishedHead {
		st := openTestStore(t, d, key, StoreConfig{}, 0, 0)
		defer st.Close()
		doc, err := st.SignHead(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p, err := OpenHead(doc, pub)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	newest, forked := head(dir), head(other)
	if forked.Seq >= newest.Seq {
		t.Fatalf("forked head seq %d, want below %d", forked.Seq, newest.Seq)
	}
	rep, _ := VerifyWith(dir, pub, VerifyOptions{Published: newest})
	wantProblems(t, rep)
	rep, _ = VerifyWith(dir, pub, VerifyOptions{Published: newest, OtherPublished: []*PublishedHead{forked}})
	wantProblems(t, rep, ProblemRolledBack)
}
