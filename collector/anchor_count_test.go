package collector

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// putBackAndCompact restores the store from the rig's copy made at seq 4,
// puts the seq 4 head (etcd's first put) back at the key by hand, and,
// with compact, compacts etcd past every put before: etcd's history of
// the key then holds only the head put back.
func putBackAndCompact(t *testing.T, r *anchorRig, older []byte, compact bool) {
	t.Helper()
	restore(t, r.backup, r.dir)
	resp, err := r.cli.Put(t.Context(), "/anchor-test/audit/head", string(older))
	if err != nil {
		t.Fatal(err)
	}
	if compact {
		if _, err := r.cli.Compact(t.Context(), resp.Header.Revision); err != nil {
			t.Fatal(err)
		}
	}
}

// wantPutBackRefused checks that the start refuses r's store against
// etcd, naming the head put back as put 2 of a key put 4 times.
func wantPutBackRefused(t *testing.T, r *anchorRig) {
	t.Helper()
	st := r.open(t, 100, 0)
	defer st.Close()
	_, err := st.CheckAnchors(t.Context(), []HeadPublisher{r.etcd}, 5*time.Second, false)
	var ae *AnchorError
	if !errors.Is(err, ErrAnchorNotHeld) || !errors.As(err, &ae) {
		t.Fatalf("CheckAnchors on a store rolled back with an older head put back = %v, want ErrAnchorNotHeld", err)
	}
	for _, want := range []string{"names seq 4", "signed as put 2 of that key", "etcd counts 4 puts"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
}

// TestStartRefusesHeadPutBackAfterCompaction: the collector published
// seq 4, then seq 8, to etcd (anchorRig). The store is restored from the
// copy made at seq 4, the seq 4 head is put back at <prefix>/audit/head
// and etcd is compacted past the seq 8 head: its history holds only the
// head put back, which the store holds, and the start said OK. The heads
// the collector puts in etcd carry the key's count of puts, signed, and
// etcd counts four puts of the key where the head there says it was
// the second: the start refuses.
func TestStartRefusesHeadPutBackAfterCompaction(t *testing.T) {
	t.Parallel()
	r := newAnchorRig(t)
	puts, err := r.etcd.PublishedHeads(t.Context())
	if err != nil || len(puts) != 3 {
		t.Fatalf("etcd's history of the head: %d puts, %v; want 3 (seq 4 put twice, then seq 8)", len(puts), err)
	}
	putBackAndCompact(t, r, puts[1].Doc, true)
	if after, err := r.etcd.PublishedHeads(t.Context()); err != nil || len(after) != 1 {
		t.Fatalf("etcd's history after the compaction: %d puts, %v; want only the head put back", len(after), err)
	}
	wantPutBackRefused(t, r)

	// The operator restored the copy on purpose: the break names the head
	// put back and why, the next head put there carries the key's count,
	// and a later start finds nothing to refuse.
	st := r.open(t, 100, 0)
	accepted, err := st.CheckAnchors(t.Context(), []HeadPublisher{r.etcd}, 5*time.Second, true)
	if err != nil || len(accepted) != 1 || !strings.Contains(accepted[0].Error(), "etcd counts 4 puts") {
		st.Close()
		t.Fatalf("CheckAnchors with acceptRollback = %v, %v; want the head put back accepted", accepted, err)
	}
	r.pubs = []HeadPublisher{r.etcd}
	r.publish(t, st)
	st.Close()
	doc, n, err := r.etcd.CountedHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h, err := OpenHead(doc, r.pub)
	if err != nil {
		t.Fatal(err)
	}
	if problem, unchecked := CheckCount(r.etcd.Where(), h, n); problem != nil || unchecked != "" || h.Publication != 5 {
		t.Errorf("head published after the accepted rollback: count %d, problem %q, unchecked %q; want put 5 and none", h.Publication, problem, unchecked)
	}
	st = r.open(t, 200, 0)
	defer st.Close()
	if _, err := st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, false); err != nil {
		t.Errorf("CheckAnchors after the accepted rollback: %v", err)
	}
}

// TestStartRefusesHeadPutBackSignedLater: the collector's clock ran an
// hour ahead when it signed seq 4 and was set right before seq 8. The
// seq 4 head put back beside the store's copy made at it was signed after
// seq 8, so NewestPut did not take seq 8 for the newer and the start said
// OK, with etcd's whole history there; the count tells them apart.
func TestStartRefusesHeadPutBackSignedLater(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	r := &anchorRig{dir: t.TempDir(), key: newTestKey(t), etcd: etcdadmin.New(cli, "/anchor-test"), cli: cli}
	r.pub = r.key.Public().(ed25519.PublicKey)
	r.pubs = []HeadPublisher{r.etcd}
	publishAt := func(st *Store, at time.Time) []byte {
		t.Helper()
		doc, err := st.SignHead(at)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PublishChecked(t.Context(), doc, 5*time.Second, r.pubs); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	now := time.Now()
	st := r.open(t, 0, 4)
	publishAt(st, now.Add(time.Hour))
	st.Close()
	r.backup = copyDir(t, r.dir)
	st = r.open(t, 4, 4)
	publishAt(st, now)
	st.Close()
	puts, err := r.etcd.PublishedHeads(t.Context())
	if err != nil || len(puts) != 3 {
		t.Fatalf("etcd's history of the head: %d puts, %v; want 3", len(puts), err)
	}
	putBackAndCompact(t, r, puts[1].Doc, false)
	wantPutBackRefused(t, r)
}

// sameSigned reports whether a and b are one head as the store signed
// it: the one put in etcd carries its count of the key besides
// (CountedAnchor), the one in head.json and the file none.
func sameSigned(a, b *PublishedHead) bool {
	return a.Seq == b.Seq && a.Hash == b.Hash && a.Time.Equal(b.Time)
}

// sameDoc is sameSigned of two signed documents, unverified.
func sameDoc(a, b []byte) bool {
	x, y := unverifiedHead(a), unverifiedHead(b)
	return a != nil && b != nil && x.Seq == y.Seq && x.Hash == y.Hash && x.Time.Equal(y.Time)
}
