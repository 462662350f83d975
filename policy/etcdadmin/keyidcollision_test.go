package etcdadmin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// A key id names one key. A policy push whose document holds a key with
// the id of a key record in etcd took the id over: the sidecars keep the
// document's key and leave the record out ("duplicate key"), so the key
// made with keys create (for acme-admin, under its approval) stopped
// working, and requests under the document's key (for any client, with
// a secret of the pusher's choosing, and no approval) were audited under
// the id the trail gives to the created one. Such a push is refused; the
// same key moved into the document (same client and SHA-256) is not.
func TestPushRefusesAKeyIDOfAnEtcdKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	doc := examplePolicy(t)
	push(t, a, doc)
	_, spec, err := a.CreateKey(ctx, "acme-admin", time.Hour, meta)
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := policy.GenerateKey("globex-bi", "mallory", "", time.Now().Add(-time.Minute), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	withKey := func(ks policy.KeySpec) []byte {
		item := fmt.Sprintf("keys:\n  - id: %s\n    client: %s\n    sha256: %s\n    created_at: %q\n", ks.ID, ks.Client, ks.SHA256, time.Now().UTC().Format(time.RFC3339))
		out := bytes.Replace(doc, []byte("keys:\n"), []byte(item), 1)
		if bytes.Equal(out, doc) {
			t.Fatal("example policy has no keys: section")
		}
		return out
	}
	other.ID = spec.ID
	if _, err := a.PushPolicy(ctx, withKey(other), 0, meta); !errors.Is(err, ErrExists) {
		t.Errorf("push of a document key for globex-bi with the id of acme-admin's key %s: %v, want ErrExists", spec.ID, err)
	}
	keys, err := a.ListKeys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.ID == spec.ID && (k.Source != "etcd" || k.Skipped != "") {
			t.Errorf("key %s after the push: source %s, skipped %q; want the etcd record, in force", k.ID, k.Source, k.Skipped)
		}
	}
	if _, err := a.PushPolicy(ctx, withKey(spec), 0, meta); err != nil {
		t.Errorf("push of the same key moved into the document: %v", err)
	}
}
