package collector

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// deleteAndPutBack restores r's store from the rig's copy made at seq 4,
// deletes the key, compacts etcd past every put and puts doc back at the
// key, which creates it again.
func deleteAndPutBack(t *testing.T, r *anchorRig, doc []byte) {
	t.Helper()
	restore(t, r.backup, r.dir)
	del, err := r.cli.Delete(t.Context(), "/anchor-test/audit/head")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.cli.Compact(t.Context(), del.Header.Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := r.cli.Put(t.Context(), "/anchor-test/audit/head", string(doc)); err != nil {
		t.Fatal(err)
	}
}

// wantStartRefused checks that the start refuses r's store against
// etcd with an *AnchorError saying each of want.
func wantStartRefused(t *testing.T, r *anchorRig, want ...string) {
	t.Helper()
	st := r.open(t, 100, 0)
	defer st.Close()
	_, err := st.CheckAnchors(t.Context(), []HeadPublisher{r.etcd}, 5*time.Second, false)
	var ae *AnchorError
	if !errors.Is(err, ErrAnchorNotHeld) || !errors.As(err, &ae) {
		t.Fatalf("CheckAnchors = %v, want ErrAnchorNotHeld", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("refusal %q does not say %q", err, w)
		}
	}
}

// TestFirstPutIsPutAgainWithKeyCreated: the put that creates the key is
// followed at once by another, signed with the key's create revision, so
// a head a collector leaves in etcd is never a key's first put, which
// nothing can tell from one put back after the key was deleted.
func TestFirstPutIsPutAgainWithKeyCreated(t *testing.T) {
	t.Parallel()
	r := newAnchorRig(t)
	puts, err := r.etcd.PublishedHeads(t.Context())
	if err != nil || len(puts) != 3 {
		t.Fatalf("etcd's history of the head: %d puts, %v; want 3 (the first head put twice, then the second)", len(puts), err)
	}
	first, err := OpenHead(puts[0].Doc, r.pub)
	if err != nil {
		t.Fatal(err)
	}
	again, err := OpenHead(puts[1].Doc, r.pub)
	if err != nil {
		t.Fatal(err)
	}
	if first.Publication != 1 || first.KeyCreated != 0 || again.Publication != 2 || again.KeyCreated != puts[0].Revision || !sameSigned(first, again) {
		t.Errorf("first two puts: %+v then %+v; want one head as put 1, then as put 2 of the key created at revision %d", first, again, puts[0].Revision)
	}
	doc, n, err := r.etcd.CountedHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h, err := OpenHead(doc, r.pub)
	if err != nil {
		t.Fatal(err)
	}
	if problem, unchecked := CheckCount(r.etcd.Where(), h, n); problem != nil || unchecked != "" {
		t.Errorf("CheckCount of the head the collector left = %v, %q; want nothing", problem, unchecked)
	}
}

// TestStartRefusesFirstPutBackAfterDelete: the store is restored from the
// copy made at seq 4, the key deleted, etcd compacted, and the head of the
// key's first put (seq 4, publication 1, no create revision) put back: the
// key is at version 1 again and nothing contradicted the head, and the
// start said OK. A collector never leaves a first put there: the start
// refuses it, and audit verify cannot check it (TestVerifyFindsFirstPutBack).
func TestStartRefusesFirstPutBackAfterDelete(t *testing.T) {
	t.Parallel()
	r := newAnchorRig(t)
	puts, err := r.etcd.PublishedHeads(t.Context())
	if err != nil || len(puts) == 0 {
		t.Fatalf("etcd's history of the head: %d puts, %v", len(puts), err)
	}
	deleteAndPutBack(t, r, puts[0].Doc)
	wantStartRefused(t, r, "names seq 4", "first put of that key")

	doc, n, err := r.etcd.CountedHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h, err := OpenHead(doc, r.pub)
	if err != nil {
		t.Fatal(err)
	}
	problem, _ := CheckCount(r.etcd.Where(), h, n)
	if problem == nil || problem.What != ProblemUnchecked || !strings.Contains(problem.Detail, "first put of that key") {
		t.Errorf("CheckCount of a first put put back = %+v, want a %q problem naming the first put", problem, ProblemUnchecked)
	}
}

// TestStartRefusesHeadPutBackAtKeyCreatedAgain: the key deleted, created
// again by another put, and a head numbered for the old key put back as
// its second put: the count agrees, the create revision does not.
func TestStartRefusesHeadPutBackAtKeyCreatedAgain(t *testing.T) {
	t.Parallel()
	r := newAnchorRig(t)
	puts, err := r.etcd.PublishedHeads(t.Context())
	if err != nil || len(puts) < 2 {
		t.Fatalf("etcd's history of the head: %d puts, %v", len(puts), err)
	}
	deleteAndPutBack(t, r, []byte("{}"))
	if _, err := r.cli.Put(t.Context(), "/anchor-test/audit/head", string(puts[1].Doc)); err != nil {
		t.Fatal(err)
	}
	wantStartRefused(t, r, "names seq 4", "created again")
}

// TestStartRefusesDeletedKeyItPublishedAt: the store is restored from the
// copy made at seq 4, after its first publication in etcd, and the key
// deleted (and etcd compacted): nothing is left in etcd, the start
// published a first head of the rolled-back store there, and from then
// on etcd's count agreed with it. The store's head and entries record
// that it published numbered heads there: the start refuses the key
// gone; --accept-rollback records it in the chain and publishes again.
func TestStartRefusesDeletedKeyItPublishedAt(t *testing.T) {
	t.Parallel()
	r := newAnchorRig(t)
	restore(t, r.backup, r.dir)
	del, err := r.cli.Delete(t.Context(), "/anchor-test/audit/head")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.cli.Compact(t.Context(), del.Header.Revision); err != nil {
		t.Fatal(err)
	}
	wantStartRefused(t, r, "holds no head", "published its heads there")

	st := r.open(t, 100, 0)
	accepted, err := st.CheckAnchors(t.Context(), []HeadPublisher{r.etcd}, 5*time.Second, true)
	if err != nil || len(accepted) != 1 {
		st.Close()
		t.Fatalf("CheckAnchors with acceptRollback = %v, %v; want the deleted key accepted", accepted, err)
	}
	r.pubs = []HeadPublisher{r.etcd}
	r.publish(t, st)
	if s := st.Stats(); s.Breaks != 1 {
		t.Errorf("breaks recorded = %d, want 1 naming the deleted key", s.Breaks)
	}
	st.Close()
	st = r.open(t, 200, 0)
	defer st.Close()
	if _, err := st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, false); err != nil {
		t.Errorf("CheckAnchors after the accepted rollback: %v", err)
	}
}

// TestEntriesRememberCountedPublication: the store published numbered
// heads in etcd and stored batches since; its head.json is swapped for
// the one signed before that publication (at the same seq, which a crash
// that lost the newer heads' renames leaves too) and the key deleted. The
// entries stored since record the publication: the start refuses the
// key gone all the same.
func TestEntriesRememberCountedPublication(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	r := &anchorRig{dir: t.TempDir(), key: newTestKey(t), etcd: etcdadmin.New(cli, "/anchor-test"), cli: cli}
	r.pub = r.key.Public().(ed25519.PublicKey)
	r.pubs = []HeadPublisher{r.etcd}
	st := r.open(t, 0, 4)
	doc, err := st.SignHead(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PublishChecked(t.Context(), doc, 5*time.Second, r.pubs); err != nil {
		t.Fatal(err)
	}
	appendBatches(t, st, 4, 2)
	st.Close()
	if err := os.WriteFile(filepath.Join(r.dir, headFile), doc, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.cli.Delete(t.Context(), "/anchor-test/audit/head"); err != nil {
		t.Fatal(err)
	}
	wantStartRefused(t, r, "holds no head")
}

// TestStartAfterStopBetweenTheTwoPutsNeedsAcceptRollback: a collector
// stopped between the put that created the key and the one that numbers
// its head with the key's create revision leaves its own head as the
// key's first put, which nothing tells from one put back after a delete:
// the start refuses it, and --accept-rollback records it in the chain and
// publishes a counted head over it, after which a start passes.
func TestStartAfterStopBetweenTheTwoPutsNeedsAcceptRollback(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	r := &anchorRig{dir: t.TempDir(), key: newTestKey(t), etcd: etcdadmin.New(cli, "/anchor-test"), cli: cli}
	r.pub = r.key.Public().(ed25519.PublicKey)
	r.pubs = []HeadPublisher{r.etcd}
	st := r.open(t, 0, 4)
	firstPut, err := st.numberHead(signed(t, st), etcdadmin.HeadCount{Puts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.cli.Put(t.Context(), "/anchor-test/audit/head", string(firstPut)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	wantStartRefused(t, r, "first put of that key")

	st = r.open(t, 100, 0)
	accepted, err := st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, true)
	if err != nil || len(accepted) != 1 {
		st.Close()
		t.Fatalf("CheckAnchors with acceptRollback = %v, %v; want the first put accepted", accepted, err)
	}
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
	if problem, unchecked := CheckCount(r.etcd.Where(), h, n); problem != nil || unchecked != "" || h.KeyCreated == 0 {
		t.Errorf("head published after --accept-rollback: %+v, CheckCount %v %q; want one numbered with the key's create revision", h, problem, unchecked)
	}
	st = r.open(t, 200, 0)
	defer st.Close()
	if _, err := st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, false); err != nil {
		t.Errorf("CheckAnchors after the accepted first put: %v", err)
	}
}
