package collector

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/etcdtest"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// TestLostSecondPutAnswerIsRemembered: a collector's first publication
// in etcd creates the key (put 1) and puts its head again at once,
// numbered with the key's create revision (put 2); etcd applied put 2
// but its answer was lost (etcdtest.LostAnswerProxyAfter: the answers to
// the check, and to put 1's read and write, and put 2's read come; none
// after), and the collector stopped before its next publication. The
// store recorded nothing of its counted publication (it did so only once
// a put's answer came), so a start after the key was deleted took the
// key gone, and a store rolled back beside it would have passed. The
// store now records it durably before put 2 is sent: the start refuses.
func TestLostSecondPutAnswerIsRemembered(t *testing.T) {
	t.Parallel()
	cli := etcdClient(t)
	direct := etcdadmin.New(cli, "/anchor-test")
	lossyCli, err := etcdsync.Dial(etcdsync.Config{Endpoints: []string{etcdtest.LostAnswerProxyAfter(t, strings.TrimPrefix(cli.Endpoints()[0], "http://"), 4)}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lossyCli.Close() })
	r := &anchorRig{dir: t.TempDir(), key: newTestKey(t), etcd: direct, cli: cli}
	r.pub = r.key.Public().(ed25519.PublicKey)
	r.pubs = []HeadPublisher{direct}

	st := r.open(t, 0, 4)
	err = st.PublishChecked(t.Context(), signed(t, st), 2*time.Second, []HeadPublisher{etcdadmin.New(lossyCli, "/anchor-test")})
	st.Close()
	if !errors.Is(err, etcdadmin.ErrWriteUnknown) {
		t.Fatalf("the publication whose second put lost its answer = %v, want etcdadmin.ErrWriteUnknown", err)
	}
	doc, n, err := direct.CountedHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if h, err := OpenHead(doc, r.pub); err != nil || h.Publication != 2 || h.KeyCreated != n.Created {
		t.Fatalf("etcd holds %+v (%v), want the second put applied, numbered with the key's create revision %d", h, err, n.Created)
	}
	if _, err := cli.Delete(t.Context(), "/anchor-test/audit/head"); err != nil {
		t.Fatal(err)
	}
	wantStartRefused(t, r, "holds no head", "published its heads there")
}

// TestStartRefusesUncountedHeadOfCountedStore: the store, after its first
// counted publication, is restored from the copy made then; its head.json
// (the same seq, signed by the collector's key, but with no count of the
// etcd key: head.json never carries one) is put at the key by hand and
// etcd compacted past the newer heads. A head with no count was taken as
// one a collector of a release before counted heads left, checked for
// nothing but the entry it names, which the rolled-back store holds: the
// start said OK. The store records that it publishes counted heads
// there, so a head there without a count was not put by it: refused.
func TestStartRefusesUncountedHeadOfCountedStore(t *testing.T) {
	t.Parallel()
	r := newAnchorRig(t)
	doc, err := os.ReadFile(filepath.Join(r.backup, headFile))
	if err != nil {
		t.Fatal(err)
	}
	if h, err := OpenHead(doc, r.pub); err != nil || h.Publication != 0 {
		t.Fatalf("the copy's head.json: %+v, %v; want a head with no count", h, err)
	}
	deleteAndPutBack(t, r, doc)
	wantStartRefused(t, r, "names seq 4", "carries no count")
}
