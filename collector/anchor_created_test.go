package collector

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// newCreatedCountedRig is a store created for a collector that publishes
// to etcd (StoreConfig.PublishesCounted): its first start finds the key
// empty and passes; seq 4 is signed and copied (backup) before its first
// publication, then published, then seq 8.
func newCreatedCountedRig(t *testing.T) *anchorRig {
	t.Helper()
	cli := etcdClient(t)
	r := &anchorRig{dir: t.TempDir(), key: newTestKey(t), etcd: etcdadmin.New(cli, "/anchor-test"), cli: cli}
	r.pub = r.key.Public().(ed25519.PublicKey)
	r.pubs = []HeadPublisher{r.etcd}
	st := openTestStore(t, r.dir, r.key, StoreConfig{SegmentMaxBytes: 3000, PublishesCounted: true}, 0, 4)
	defer st.Close()
	if _, err := st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, false); err != nil {
		t.Fatalf("CheckAnchors at the start that created the store, etcd holding no head: %v", err)
	}
	signed(t, st)
	r.backup = copyDir(t, r.dir) // before the store's first publication
	r.publish(t, st)
	appendBatches(t, st, 4, 4)
	r.published = r.publish(t, st)
	return r
}

// TestStartRefusesRollbackToBeforeFirstPublication: the store is restored
// from its copy made before its first publication in etcd, the key
// deleted, the copy's head.json put there and etcd compacted. The copy
// did not record that the store publishes counted heads (it did so only
// at its first counted put), so the head with no count passed as one a
// collector of an older release left, and the start said OK. A store
// created for etcd records it from its first head: refused.
func TestStartRefusesRollbackToBeforeFirstPublication(t *testing.T) {
	t.Parallel()
	r := newCreatedCountedRig(t)
	doc, err := os.ReadFile(filepath.Join(r.backup, headFile))
	if err != nil {
		t.Fatal(err)
	}
	if h, err := OpenHead(doc, r.pub); err != nil || h.Publication != 0 || h.Seq != 4 {
		t.Fatalf("the copy's head.json: %+v, %v; want seq 4 with no count", h, err)
	}
	deleteAndPutBack(t, r, doc)
	wantStartRefused(t, r, "names seq 4", "carries no count")
}

// TestStartRefusesKeyGoneAfterRollbackToBeforeFirstPublication: the same
// rollback with the key left deleted: the copy did not record a counted
// publication, and the start published a first head of the rolled-back
// store there. Refused as the key gone.
func TestStartRefusesKeyGoneAfterRollbackToBeforeFirstPublication(t *testing.T) {
	t.Parallel()
	r := newCreatedCountedRig(t)
	restore(t, r.backup, r.dir)
	if _, err := r.cli.Delete(t.Context(), "/anchor-test/audit/head"); err != nil {
		t.Fatal(err)
	}
	wantStartRefused(t, r, "holds no head", "published its heads there")
}

// TestStartBeforeFirstPublicationNeedsAcceptRollback: a collector that
// created its store and stopped before its first head reached etcd leaves
// a store that records counted heads beside an empty key, which nothing
// tells from a key deleted: the next start refuses it, and
// --accept-rollback records it in the chain, after which a start passes.
func TestStartBeforeFirstPublicationNeedsAcceptRollback(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	r := &anchorRig{dir: t.TempDir(), key: newTestKey(t), etcd: etcdadmin.New(cli, "/anchor-test"), cli: cli}
	r.pub = r.key.Public().(ed25519.PublicKey)
	r.pubs = []HeadPublisher{r.etcd}
	openTestStore(t, r.dir, r.key, StoreConfig{PublishesCounted: true}, 0, 2).Close()
	wantStartRefused(t, r, "holds no head")

	st := r.open(t, 100, 0)
	if accepted, err := st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, true); err != nil || len(accepted) != 1 {
		st.Close()
		t.Fatalf("CheckAnchors with acceptRollback = %v, %v; want the empty key accepted", accepted, err)
	}
	r.publish(t, st)
	st.Close()
	st = r.open(t, 200, 0)
	defer st.Close()
	if _, err := st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, false); err != nil {
		t.Errorf("CheckAnchors after the accepted start: %v", err)
	}
}

// TestStartRefusesKeyGoneWithMarkerDeleted: the rollback of
// TestStartRefusesKeyGoneAfterRollbackToBeforeFirstPublication with the
// copy's store.id deleted too. The start took a store whose marker was
// missing for one it created (createdNow), though it held entries and a
// signed head, and published a first head of the rolled-back store at the
// empty key. A store with entries or a head was not created by this
// start: refused as the key gone.
func TestStartRefusesKeyGoneWithMarkerDeleted(t *testing.T) {
	t.Parallel()
	r := newCreatedCountedRig(t)
	restore(t, r.backup, r.dir)
	if err := os.Remove(filepath.Join(r.dir, storeMarker)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.cli.Delete(t.Context(), "/anchor-test/audit/head"); err != nil {
		t.Fatal(err)
	}
	wantStartRefused(t, r, "holds no head", "published its heads there")
}
