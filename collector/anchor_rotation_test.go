package collector

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestPublishNumbersHeadSignedBeforeRotation: a head signed with the
// store's previous key (before the collector rotated the store to its new
// key at a restart) is handed to the rotated store to publish in etcd.
// numberHead signs it again, with its count of the key, with the key that
// signed it, the previous one: the head put there verifies with that key
// and carries the key's count. Signing it with the new key would put a
// head there whose signature names the wrong key for its segment; finding
// neither fails the publication.
func TestPublishNumbersHeadSignedBeforeRotation(t *testing.T) {
	t.Parallel()
	old, next := newTestKey(t), newTestKey(t)
	cli := etcdClient(t)
	anchor := etcdadmin.New(cli, "/rotation-test")
	dir := t.TempDir()
	st := openTestStore(t, dir, old, StoreConfig{}, 0, 3)
	before, err := st.SignHead(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	st = openTestStore(t, dir, next, StoreConfig{PreviousKey: old}, 3, 0)
	defer st.Close()
	if now, _ := st.KeyRotated(); !now {
		t.Fatal("the store was not rotated to the new key")
	}
	if err := st.PublishChecked(t.Context(), before, 5*time.Second, []HeadPublisher{anchor}); err != nil {
		t.Fatalf("publishing a head signed before the rotation: %v", err)
	}
	doc, n, err := anchor.CountedHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	h, err := OpenHead(doc, pubOf(old))
	if err != nil {
		t.Fatalf("the head put in etcd does not verify with the key that signed it: %v", err)
	}
	if _, err := OpenHead(doc, pubOf(next)); err == nil {
		t.Error("the head put in etcd verifies with the new key, want the previous key's signature")
	}
	want, err := OpenHead(before, pubOf(old))
	if err != nil {
		t.Fatal(err)
	}
	if !sameSigned(h, want) || h.Publication != n.Puts || h.KeyCreated != n.Created || h.Publication < 2 {
		t.Errorf("head put in etcd %+v (key count %+v); want %+v numbered with the key's count", h, n, want)
	}
}
