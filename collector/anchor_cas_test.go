package collector

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// dialAgain returns another client of the etcd server cli talks to, as a
// second collector process has its own; it ends with the test.
func dialAgain(t *testing.T, cli *clientv3.Client) *clientv3.Client {
	t.Helper()
	c, err := etcdsync.Dial(etcdsync.Config{Endpoints: cli.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// signed signs st's head now and returns it.
func signed(t *testing.T, st *Store) []byte {
	t.Helper()
	doc, err := st.SignHead(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// get fetches url over loopback and returns the status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSecondCollectorDoesNotOverwriteFirstsHead: two collectors, each
// with its own store on disk, publish to one etcd prefix (two deployments
// pointed at one etcd, or a copy of a collector started elsewhere). Each
// checked the head there only before its first publication, and etcd's
// write compared seqs only, so the one with the higher seq overwrote the
// other's head: verify of the first store against etcd then had no
// anchor, silently. Each publication now replaces only the head its
// collector last wrote or found there: the second is refused, names both
// heads, is counted, shows in /healthz and /metrics, keeps storing; the
// first goes on publishing.
func TestSecondCollectorDoesNotOverwriteFirstsHead(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	cases := []struct {
		name string
		// copyOfFirst: the second runs on a copy of the first's store
		// (same key), taken after the first published; else on a store
		// of its own, started while no head was published.
		copyOfFirst, sameKey bool
		want                 string
	}{
		{"another deployment", false, false, "does not verify with this collector's signing key"},
		{"a copy of the collector, new store", false, true, "signed with this collector's key"},
		{"a copy of the collector and its store", true, true, "signed with this collector's key"},
	}
	for i, tc := range cases {
		prefix := "/shared-" + itoa(i)
		first := etcdadmin.New(cli, prefix)
		second := etcdadmin.New(dialAgain(t, cli), prefix)
		keyA := newTestKey(t)
		keyB := newTestKey(t)
		if tc.sameKey {
			keyB = keyA
		}
		dirA, dirB := t.TempDir(), t.TempDir()
		a := openTestStore(t, dirA, keyA, StoreConfig{SegmentMaxBytes: 3000}, 0, 4)
		pubsA, pubsB := []HeadPublisher{first}, []HeadPublisher{second}
		if _, err := a.CheckAnchors(t.Context(), pubsA, 5*time.Second, false); err != nil {
			t.Fatal(err)
		}
		if tc.copyOfFirst {
			if err := a.PublishChecked(t.Context(), signed(t, a), 5*time.Second, pubsA); err != nil {
				t.Fatal(err)
			}
			a.Rotate()
			dirB = copyDir(t, dirA)
		}
		b := openTestStore(t, dirB, keyB, StoreConfig{SegmentMaxBytes: 3000}, 100, 0)
		if _, err := b.CheckAnchors(t.Context(), pubsB, 5*time.Second, false); err != nil {
			t.Fatalf("%s: the second collector did not start: %v", tc.name, err)
		}

		appendBatches(t, a, 4, 2) // seq 6
		headA := signed(t, a)
		if err := a.PublishChecked(t.Context(), headA, 5*time.Second, pubsA); err != nil {
			t.Fatal(err)
		}
		appendBatches(t, b, 200, 8) // past the first's seq
		headB := signed(t, b)
		err := b.PublishChecked(t.Context(), headB, 5*time.Second, pubsB)
		if got, _ := first.ReadHead(t.Context()); !sameDoc(got, headA) {
			t.Fatalf("%s: the second collector overwrote the first's head: etcd holds %s, want %s (its publication: %v)", tc.name, headLabel(got), headLabel(headA), err)
		}
		hA, hB := unverifiedHead(headA), unverifiedHead(headB)
		for _, want := range []string{"etcd key " + prefix + "/audit/head", "seq 6", hA.Hash[:16], headLabel(headB), hB.Hash[:16], tc.want, "still stored"} {
			if !errors.Is(err, ErrHeadConflict) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the second collector's publication = %v; want ErrHeadConflict saying %q", tc.name, err, want)
			}
		}
		if s := b.Stats(); s.HeadConflicts != 1 || s.AnchorsWithheld != 1 {
			t.Errorf("%s: second collector's head conflicts %d, anchors withheld %d; want 1 and 1", tc.name, s.HeadConflicts, s.AnchorsWithheld)
		}

		// The refusal shows where the operator looks.
		col, cerr := New(b, Config{Token: strings.Repeat("t", 32)})
		if cerr != nil {
			t.Fatal(cerr)
		}
		srv := httptest.NewServer(col.MetricsHandler())
		code, body := get(t, srv.URL+"/healthz")
		var health struct {
			Status  string
			Storing bool
			Anchors []AnchorProblem `json:"anchors_withheld"`
		}
		if jerr := json.Unmarshal([]byte(body), &health); jerr != nil || code != http.StatusOK || health.Status != "degraded" || !health.Storing ||
			len(health.Anchors) != 1 || health.Anchors[0].Where != "etcd key "+prefix+"/audit/head" || !strings.Contains(health.Anchors[0].Problem, "another collector") {
			t.Errorf("%s: /healthz = %d %s; want 200, degraded, storing, the etcd key named with the conflict", tc.name, code, body)
		}
		_, metrics := get(t, srv.URL+"/metrics")
		for _, want := range []string{"\nportcullis_collector_head_conflicts_total 1\n", "\nportcullis_collector_anchors_withheld 1\n"} {
			if !strings.Contains(metrics, want) {
				t.Errorf("%s: /metrics lacks %q", tc.name, strings.TrimSpace(want))
			}
		}
		srv.Close()

		// The second keeps storing, and keeps being refused; the first
		// goes on publishing, and verifies against etcd.
		appendBatches(t, b, 300, 1)
		if err := b.PublishChecked(t.Context(), signed(t, b), 5*time.Second, pubsB); !errors.Is(err, ErrHeadConflict) {
			t.Errorf("%s: the second collector's next publication = %v, want ErrHeadConflict", tc.name, err)
		}
		appendBatches(t, a, 6, 1)
		headA = signed(t, a)
		if err := a.PublishChecked(t.Context(), headA, 5*time.Second, pubsA); err != nil {
			t.Errorf("%s: the first collector's next publication: %v", tc.name, err)
		}
		b.Close()
		a.Close()
		doc, _ := first.ReadHead(t.Context())
		p, err := OpenHead(doc, keyA.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if rep, _ := VerifyWith(dirA, keyA.Public().(ed25519.PublicKey), VerifyOptions{Published: p}); !rep.OK() || p.Seq != 7 {
			t.Errorf("%s: the first store against etcd's head (seq %d): %v", tc.name, p.Seq, rep.Problems)
		}
	}
}

// TestOneCollectorPublishesAcrossRotationAndRestart: the compare-and-swap
// of each publication leaves the one collector's flow as it was: heads go
// to etcd and the file across rotations and restarts.
func TestOneCollectorPublishesAcrossRotationAndRestart(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	dir, key := t.TempDir(), newTestKey(t)
	pub := key.Public().(ed25519.PublicKey)
	etcd := etcdadmin.New(cli, "/one")
	file := FileAnchor(filepath.Join(t.TempDir(), "published-head.json"))
	pubs := []HeadPublisher{etcd, file}
	var notices []string
	for round := range 3 {
		st, err := OpenStore(dir, StoreConfig{SigningKey: key, SegmentMaxBytes: 3000, OnAnchor: func(m string) { notices = append(notices, m) }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CheckAnchors(t.Context(), pubs, 5*time.Second, false); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for range 3 {
			appendBatches(t, st, 10*round+int(st.Stats().Batches), 3) // rotates past 3000 bytes
			if err := st.PublishChecked(t.Context(), signed(t, st), 5*time.Second, pubs); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if err := st.PublishChecked(t.Context(), signed(t, st), 5*time.Second, pubs); err != nil {
			t.Fatalf("round %d, idle: %v", round, err)
		}
		st.Close()
		for _, a := range []HeadAnchor{etcd, file} {
			doc, _ := a.ReadHead(t.Context())
			p, err := OpenHead(doc, pub)
			if err != nil || p.Seq != uint64(9*(round+1)) {
				t.Fatalf("round %d: %s holds %v, %v; want seq %d", round, a.Where(), p, err, 9*(round+1))
			}
		}
	}
	if segs, _, err := listSegments(dir); err != nil || len(segs) < 3 {
		t.Errorf("segments %v, %v: the test did not rotate", segs, err)
	}
	if len(notices) != 0 {
		t.Errorf("notices in the normal flow: %q", notices)
	}
}

// switchAnchor is the etcd anchor of one collector whose connection is
// for a while through a proxy that loses etcd's answers
// (etcdtest.LostAnswerProxy): the collector tells its anchors apart by
// identity, so the Admin it talks through is switched under it.
type switchAnchor struct {
	a atomic.Pointer[etcdadmin.Admin]
}

func (s *switchAnchor) PublishHead(ctx context.Context, h []byte) error {
	return s.a.Load().PublishHead(ctx, h)
}
func (s *switchAnchor) ReadHead(ctx context.Context) ([]byte, error) { return s.a.Load().ReadHead(ctx) }
func (s *switchAnchor) ReplaceHead(ctx context.Context, old, h []byte) error {
	return s.a.Load().ReplaceHead(ctx, old, h)
}
func (s *switchAnchor) Where() string { return s.a.Load().Where() }

// TestReplaceAfterLostAnswerPublishesOn: after --accept-rollback, the
// first publication replaces the head the recorded break names; its answer
// lost (applied), every later tick failed, "changed since it was
// checked", until the collector was restarted. The collector now finds
// its own head there and publishes on from it, with no conflict.
func TestReplaceAfterLostAnswerPublishesOn(t *testing.T) {
	t.Parallel()
	r := newAnchorRig(t)
	direct := r.etcd
	lossyCli, err := etcdsync.Dial(etcdsync.Config{Endpoints: []string{etcdtest.LostAnswerProxy(t, strings.TrimPrefix(r.cli.Endpoints()[0], "http://"))}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lossyCli.Close() })
	anchor := new(switchAnchor)
	anchor.a.Store(direct)
	pubs := []HeadPublisher{anchor}

	restore(t, r.backup, r.dir)
	st := r.open(t, 100, 0)
	defer st.Close()
	if _, err := st.CheckAnchors(t.Context(), pubs, 5*time.Second, true); err != nil {
		t.Fatal(err)
	}
	anchor.a.Store(etcdadmin.New(lossyCli, "/anchor-test"))
	replaced := signed(t, st)
	if err := st.PublishChecked(t.Context(), replaced, time.Second, pubs); !errors.Is(err, etcdadmin.ErrWriteUnknown) {
		t.Fatalf("the replacement whose answer was lost = %v, want etcdadmin.ErrWriteUnknown", err)
	}
	if got, _ := direct.ReadHead(t.Context()); !bytes.Equal(got, replaced) {
		t.Fatalf("etcd holds %s, want the replacement applied", headLabel(got))
	}
	anchor.a.Store(direct)
	for i := range 2 {
		appendBatches(t, st, 100+i, 1)
		next := signed(t, st)
		if err := st.PublishChecked(t.Context(), next, 5*time.Second, pubs); err != nil {
			t.Fatalf("publication %d after the lost answer: %v", i, err)
		}
		if got, _ := direct.ReadHead(t.Context()); !bytes.Equal(got, next) {
			t.Errorf("publication %d: etcd holds %s, want %s", i, headLabel(got), headLabel(next))
		}
	}
	if s := st.Stats(); s.HeadConflicts != 0 || s.AnchorsWithheld != 0 {
		t.Errorf("head conflicts %d, anchors withheld %d; want 0 and 0", s.HeadConflicts, s.AnchorsWithheld)
	}
}

// TestDeletedOrRestoredHeadIsPublishedOverAndSaid: a head this collector
// wrote, deleted from etcd or put back to an older head of its own chain
// (etcd restored from a backup), is no other collector's: the collector
// publishes over it, as a restart would, and says so (StoreConfig.OnAnchor).
func TestDeletedOrRestoredHeadIsPublishedOverAndSaid(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	dir, key := t.TempDir(), newTestKey(t)
	etcd := etcdadmin.New(cli, "/gone")
	pubs := []HeadPublisher{etcd}
	var notices []string
	st, err := OpenStore(dir, StoreConfig{SigningKey: key, OnAnchor: func(m string) { notices = append(notices, m) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CheckAnchors(t.Context(), pubs, 5*time.Second, false); err != nil {
		t.Fatal(err)
	}
	appendBatches(t, st, 0, 2)
	older := signed(t, st)
	if err := st.PublishChecked(t.Context(), older, 5*time.Second, pubs); err != nil {
		t.Fatal(err)
	}
	appendBatches(t, st, 2, 2)
	if err := st.PublishChecked(t.Context(), signed(t, st), 5*time.Second, pubs); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"deleted", func() error { _, err := cli.Delete(t.Context(), "/gone/audit/head"); return err }, "was deleted"},
		{"restored", func() error { _, err := cli.Put(t.Context(), "/gone/audit/head", string(older)); return err }, "an older head of this store's chain"},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		appendBatches(t, st, 10+i, 1)
		next := signed(t, st)
		if err := st.PublishChecked(t.Context(), next, 5*time.Second, pubs); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
		if got, _ := etcd.ReadHead(t.Context()); !sameDoc(got, next) {
			t.Errorf("%s: etcd holds %s, want %s", s.name, headLabel(got), headLabel(next))
		}
		if len(notices) != i+1 || !strings.Contains(notices[i], s.want) || !strings.Contains(notices[i], "etcd key /gone/audit/head") {
			t.Errorf("%s: notices %q; want one saying %q", s.name, notices, s.want)
		}
	}
	if s := st.Stats(); s.HeadConflicts != 0 || s.AnchorsWithheld != 0 {
		t.Errorf("head conflicts %d, anchors withheld %d; want 0 and 0", s.HeadConflicts, s.AnchorsWithheld)
	}
}

// TestHealthDoesNotWaitForPublication: /healthz reads which anchors are
// withheld without the lock a publication holds while etcd does not
// answer (here, for up to its 3 s timeout), so a probe is not failed by
// a slow etcd.
func TestHealthDoesNotWaitForPublication(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	lossy, err := etcdsync.Dial(etcdsync.Config{Endpoints: []string{etcdtest.LostAnswerProxy(t, strings.TrimPrefix(cli.Endpoints()[0], "http://"))}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lossy.Close() })
	st := openTestStore(t, t.TempDir(), newTestKey(t), StoreConfig{}, 0, 1)
	defer st.Close()
	anchor := &enteredAnchor{Admin: etcdadmin.New(lossy, "/slow"), entered: make(chan struct{})}
	pubs := []HeadPublisher{anchor}
	col, err := New(st, Config{Token: strings.Repeat("t", 32)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(col.MetricsHandler())
	defer srv.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.PublishChecked(context.Background(), signed(t, st), 3*time.Second, pubs)
	}()
	<-anchor.entered // the publication holds the anchors' lock, waiting for etcd
	start := time.Now()
	code, body := get(t, srv.URL+"/healthz")
	if took := time.Since(start); code != http.StatusOK || took > time.Second {
		t.Errorf("/healthz during a publication etcd does not answer: %d %s after %v; want 200 at once", code, body, took)
	}
	<-done
}

// enteredAnchor is the etcd anchor, closing entered when a publication
// first reads it.
type enteredAnchor struct {
	*etcdadmin.Admin
	entered chan struct{}
	once    sync.Once
}

func (a *enteredAnchor) ReadHead(ctx context.Context) ([]byte, error) {
	a.once.Do(func() { close(a.entered) })
	return a.Admin.ReadHead(ctx)
}

// CountedHead is the read a publication's check of etcd makes first
// (CountedAnchor).
func (a *enteredAnchor) CountedHead(ctx context.Context) ([]byte, etcdadmin.HeadCount, error) {
	a.once.Do(func() { close(a.entered) })
	return a.Admin.CountedHead(ctx)
}
