package collector

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestFileAnchorNotMovedOntoForkOfOlderCopy: a person who can write the
// data directory (no key, no write access to the anchor) restores an older
// copy of the store. The restarted collector keeps appending and, once its
// new chain reaches the published seq, the anchor accepts the forked head
// (it compares only seq). verify against the anchor then passes: the
// rolled-back entries are gone without trace.
func TestFileAnchorNotMovedOntoForkOfOlderCopy(t *testing.T) {
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	anchor := FileAnchor(filepath.Join(t.TempDir(), "published-head.json"))
	publish := func(st *Store) error {
		doc, err := st.SignHead(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return PublishHead(t.Context(), doc, time.Minute, []HeadPublisher{anchor})
	}
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 3000}, 0, 4)
	if err := publish(st); err != nil {
		t.Fatal(err)
	}
	st.Close()
	backup := copyDir(t, dir) // the attacker's copy, seq 4

	st = openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 3000}, 4, 4) // batches b4..b7 (seq 5..8)
	if err := publish(st); err != nil {
		t.Fatal(err)
	}
	st.Close()
	doc, _ := os.ReadFile(string(anchor))
	before, err := OpenHead(doc, pub)
	if err != nil {
		t.Fatal(err)
	}

	// The attack: restore the older copy; the collector restarts on it.
	restore(t, backup, dir)
	st = openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 3000}, 100, 4) // new traffic, seq 5..8
	pubErr := publish(st)
	st.Close()

	doc, _ = os.ReadFile(string(anchor))
	after, err := OpenHead(doc, pub)
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := VerifyWith(dir, pub, VerifyOptions{Published: after})
	if pubErr == nil && rep.OK() {
		t.Fatalf("anchor moved from seq %d hash %.12s to a fork, seq %d hash %.12s, and verify against it passes: batches b4..b7 vanished (problems %v)",
			before.Seq, before.Hash, after.Seq, after.Hash, rep.Problems)
	}
}

// TestEtcdAnchorNotMovedOntoForkOfOlderCopy is the first test with the
// etcd anchor (<prefix>/audit/head), which compares only seq as well.
func TestEtcdAnchorNotMovedOntoForkOfOlderCopy(t *testing.T) {
	cli := etcdClient(t)
	admin := etcdadmin.New(cli, "/fork-test")

	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	publish := func(st *Store) error {
		doc, err := st.SignHead(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return PublishHead(t.Context(), doc, 5*time.Second, []HeadPublisher{admin})
	}
	st := openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 3000}, 0, 4)
	if err := publish(st); err != nil {
		t.Fatal(err)
	}
	st.Close()
	backup := copyDir(t, dir)
	st = openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 3000}, 4, 4)
	if err := publish(st); err != nil {
		t.Fatal(err)
	}
	st.Close()

	restore(t, backup, dir)
	st = openTestStore(t, dir, key, StoreConfig{SegmentMaxBytes: 3000}, 100, 4)
	pubErr := publish(st)
	st.Close()

	doc, err := admin.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	after, err := OpenHead(doc, pub)
	if err != nil {
		t.Fatal(err)
	}
	rep, _ := VerifyWith(dir, pub, VerifyOptions{Published: after})
	if pubErr == nil && rep.OK() {
		t.Fatalf("etcd anchor now names the fork (seq %d hash %.12s) and verify --etcd passes: batches b4..b7 vanished", after.Seq, after.Hash)
	}
}

// anchorRig is a store whose heads went to a file anchor and to etcd (a
// real server in process): seq 4 published, then seq 8; backup is the
// store as it was at seq 4, the copy a rollback restores.
type anchorRig struct {
	dir, backup string
	key         ed25519.PrivateKey
	pub         ed25519.PublicKey
	file        FileAnchor
	etcd        *etcdadmin.Admin
	cli         *clientv3.Client
	pubs        []HeadPublisher
	published   []byte // the head published at seq 8
}

func newAnchorRig(t *testing.T) *anchorRig {
	t.Helper()
	cli := etcdClient(t)
	r := &anchorRig{dir: t.TempDir(), key: newTestKey(t), file: FileAnchor(filepath.Join(t.TempDir(), "published-head.json")),
		etcd: etcdadmin.New(cli, "/anchor-test"), cli: cli}
	r.pub = r.key.Public().(ed25519.PublicKey)
	r.pubs = []HeadPublisher{r.etcd, r.file}
	st := r.open(t, 0, 4)
	r.publish(t, st)
	st.Close()
	r.backup = copyDir(t, r.dir)
	st = r.open(t, 4, 4)
	r.published = r.publish(t, st)
	st.Close()
	return r
}

// open opens the store and appends n batches.
func (r *anchorRig) open(t *testing.T, from, n int) *Store {
	t.Helper()
	return openTestStore(t, r.dir, r.key, StoreConfig{SegmentMaxBytes: 3000}, from, n)
}

func (r *anchorRig) publish(t *testing.T, st *Store) []byte {
	t.Helper()
	doc, err := st.SignHead(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PublishChecked(t.Context(), doc, 5*time.Second, r.pubs); err != nil {
		t.Fatal(err)
	}
	return doc
}

// heads returns the heads published at the file and in etcd.
func (r *anchorRig) heads(t *testing.T) [2]*PublishedHead {
	t.Helper()
	var out [2]*PublishedHead
	for i, a := range []HeadAnchor{r.file, r.etcd} {
		doc, err := a.ReadHead(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = OpenHead(doc, r.pub); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestPublishersRefuseForkAtPublishedSeq: both anchors refuse a head at the
// published seq with another hash (ErrHeadForked), as they refuse an
// older one (ErrHeadBehind, TestVerifyFindsRollback).
func TestPublishersRefuseForkAtPublishedSeq(t *testing.T) {
	t.Parallel()
	r := newAnchorRig(t)
	restore(t, r.backup, r.dir)
	st := r.open(t, 100, 4) // the fork reaches seq 8
	doc, _ := st.SignHead(time.Now())
	st.Close()
	if err := r.file.PublishHead(t.Context(), doc); !errors.Is(err, ErrHeadForked) {
		t.Errorf("file anchor, fork at the published seq: %v, want ErrHeadForked", err)
	}
	if err := r.etcd.PublishHead(t.Context(), doc); !errors.Is(err, etcdadmin.ErrHeadForked) {
		t.Errorf("etcd anchor, fork at the published seq: %v, want etcdadmin.ErrHeadForked", err)
	}
	if h := r.heads(t); h[0].Seq != 8 || h[1].Seq != 8 || h[0].Hash != h[1].Hash {
		t.Errorf("anchors moved: %+v %+v", h[0], h[1])
	}
}

// TestCollectorWithholdsHeadsFromAnchorsItsStoreDoesNotHold: the raw
// anchors compare seqs only, so a fork that runs past the published seq
// would pass them. The collector first checks that its store holds the
// head published at each anchor (CheckAnchors at start, PublishChecked
// after): a store behind the anchors, or forked from them, is refused with
// an error naming the published head and the store's, nothing is recorded
// and nothing published; the store the anchors came from passes.
func TestCollectorWithholdsHeadsFromAnchorsItsStoreDoesNotHold(t *testing.T) {
	t.Parallel()
	r := newAnchorRig(t)
	original := copyDir(t, r.dir)
	cases := []struct {
		name  string
		batch int // batches appended to the restored copy
		want  []string
	}{
		{"behind", 0, []string{"names seq 8", "chain ends at seq 4", "behind its anchor"}},
		{"forked past the published seq", 6, []string{"names seq 8", "entry 8 has hash", "a fork"}},
	}
	for _, tc := range cases {
		restore(t, r.backup, r.dir)
		st := r.open(t, 100, tc.batch)
		accepted, err := st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, false)
		if !errors.Is(err, ErrAnchorNotHeld) || len(accepted) != 0 {
			t.Fatalf("%s: CheckAnchors = %v, %v, want ErrAnchorNotHeld", tc.name, accepted, err)
		}
		for _, want := range append(tc.want, "etcd key /anchor-test/audit/head", "file "+string(r.file)) {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", tc.name, err, want)
			}
		}
		if s := st.Stats(); s.Breaks != 0 || s.AnchorsWithheld != 2 {
			t.Errorf("%s: breaks %d, anchors withheld %d; want 0 and 2", tc.name, s.Breaks, s.AnchorsWithheld)
		}
		doc, _ := st.SignHead(time.Now())
		if err := st.PublishChecked(t.Context(), doc, 5*time.Second, r.pubs); !errors.Is(err, ErrAnchorNotHeld) {
			t.Errorf("%s: PublishChecked = %v, want ErrAnchorNotHeld", tc.name, err)
		}
		st.Close()
		if h := r.heads(t); h[0].Seq != 8 || h[1].Seq != 8 {
			t.Errorf("%s: anchors moved to %+v %+v", tc.name, h[0], h[1])
		}
	}

	restore(t, original, r.dir) // the store the anchors came from, restarted
	st := r.open(t, 200, 1)
	defer st.Close()
	if _, err := st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, false); err != nil {
		t.Fatalf("CheckAnchors on the store the anchors came from: %v", err)
	}
	r.publish(t, st)
	if h := r.heads(t); h[0].Seq != 9 || h[1].Seq != 9 {
		t.Errorf("anchors at %+v %+v, want seq 9", h[0], h[1])
	}
}

// TestAcceptRollbackRecordsBreakAndMovesAnchors: an operator who restored
// a backup on purpose accepts the rollback: one break entry, signed in the
// chain, names the head published at both anchors; the anchors move on to
// the store's chain; verify against them reports the recorded break (and
// keeps doing so, on purpose) and no rollback; etcd keeps the head
// replaced in the key's revision history.
func TestAcceptRollbackRecordsBreakAndMovesAnchors(t *testing.T) {
	t.Parallel()
	r := newAnchorRig(t)
	before, err := r.cli.Get(t.Context(), "/anchor-test/audit/head")
	if err != nil || len(before.Kvs) != 1 {
		t.Fatalf("head key: %v, %v", before, err)
	}
	old, _ := OpenHead(r.published, r.pub)
	restore(t, r.backup, r.dir)
	st := r.open(t, 100, 0)
	accepted, err := st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, true)
	if err != nil || len(accepted) != 2 {
		t.Fatalf("CheckAnchors with acceptRollback = %v, %v; want both anchors accepted", accepted, err)
	}
	if s := st.Stats(); s.Breaks != 1 || s.AnchorsWithheld != 0 {
		t.Errorf("breaks %d, anchors withheld %d; want 1 and 0", s.Breaks, s.AnchorsWithheld)
	}
	r.publish(t, st) // seq 5, the break: below the published seq 8
	appendBatches(t, st, 100, 1)
	r.publish(t, st)
	st.Close()
	h := r.heads(t)
	if h[0].Seq != 6 || !sameSigned(h[0], h[1]) {
		t.Fatalf("anchors at %+v %+v, want the store's head, seq 6", h[0], h[1])
	}
	rep, _ := VerifyWith(r.dir, r.pub, VerifyOptions{Published: h[0]})
	wantProblems(t, rep, ProblemRecordedBreak)
	for _, want := range []string{"rollback accepted", "names seq 8", old.Hash[:16], "etcd key /anchor-test/audit/head and file " + string(r.file)} {
		if !strings.Contains(rep.Problems[0].Detail, want) {
			t.Errorf("break %q does not say %q", rep.Problems[0].Detail, want)
		}
	}
	hist, err := r.cli.Get(t.Context(), "/anchor-test/audit/head", clientv3.WithRev(before.Kvs[0].ModRevision))
	if err != nil || len(hist.Kvs) != 1 || !sameDoc(hist.Kvs[0].Value, r.published) {
		t.Errorf("etcd history of the head key does not keep the head replaced: %v, %v", hist, err)
	}
	// Restarted once more, the store holds the heads it published.
	st = r.open(t, 200, 0)
	defer st.Close()
	if _, err := st.CheckAnchors(t.Context(), r.pubs, 5*time.Second, false); err != nil {
		t.Errorf("CheckAnchors after the accepted rollback: %v", err)
	}
}

// TestAnchorReadableLaterIsCheckedBeforePublishing: an anchor that cannot
// be read when the collector starts is checked before the first head goes
// there. Found ahead of (or forked from) the store, it gets no head: the
// head signer reports why at every interval, the anchor stays as it was,
// and the collector's metrics show the anchor withheld.
func TestAnchorReadableLaterIsCheckedBeforePublishing(t *testing.T) {
	t.Parallel()
	r := newAnchorRig(t)
	restore(t, r.backup, r.dir)
	st := r.open(t, 100, 6) // a fork past the published seq
	defer st.Close()
	late := filepath.Join(t.TempDir(), "mnt")
	os.WriteFile(late, []byte("not mounted yet"), 0o600) // the anchor's directory is a file: unreadable
	anchor := FileAnchor(filepath.Join(late, "published-head.json"))
	pubs := []HeadPublisher{anchor}
	if _, err := st.CheckAnchors(t.Context(), pubs, 5*time.Second, false); err != nil {
		t.Fatalf("CheckAnchors with an unreadable anchor = %v, want it left for later", err)
	}
	if _, err := st.CheckAnchors(t.Context(), pubs, 5*time.Second, true); err == nil {
		t.Error("--accept-rollback with an unreadable anchor started")
	}
	os.Remove(late)
	os.MkdirAll(late, 0o700)
	os.WriteFile(string(anchor), r.published, 0o600)

	errs := make(chan error, 100)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.RunHeadSigner(ctx, 20*time.Millisecond, pubs, func(err error) {
			select {
			case errs <- err:
			default:
			}
		})
	}()
	for range 3 {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrAnchorNotHeld) || !strings.Contains(err.Error(), "a fork") || !strings.Contains(err.Error(), "not publishing there") {
				t.Errorf("head signer reported %v, want the fork named", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the head signer reported nothing")
		}
	}
	cancel()
	<-done
	if doc, _ := os.ReadFile(string(anchor)); !bytes.Equal(doc, r.published) {
		t.Error("the anchor found later was moved onto the fork")
	}
	col, err := New(st, Config{Token: strings.Repeat("t", 32)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	col.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "\nportcullis_collector_anchors_withheld 1\n") {
		t.Errorf("metrics do not show the anchor withheld:\n%s", rec.Body)
	}
}
