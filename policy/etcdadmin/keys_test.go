package etcdadmin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// verify reports whether key matches its record in snap and is valid at now,
// as the data plane decides.
func verify(snap *policy.Snapshot, key string, now time.Time) bool {
	id, ok := policy.SplitKey([]byte(key))
	if !ok {
		return false
	}
	k := snap.Key(id)
	return k != nil && k.Digest == sha256.Sum256([]byte(key)) && k.ValidAt(now.UnixNano())
}

func TestCreateKeyStoresDigestOnly(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	push(t, a, examplePolicy(t))
	key, spec, err := a.CreateKey(context.Background(), "acme-hris", time.Hour, meta)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(key))
	if spec.SHA256 != hex.EncodeToString(sum[:]) || spec.Client != "acme-hris" || spec.CreatedBy != "tester" || spec.Ticket != "T-1" || spec.NotAfter == "" {
		t.Errorf("spec = %+v, want the digest of the key, client, creator, ticket and an expiry", spec)
	}
	resp, err := cli.Get(context.Background(), prefix+"/", clientWithPrefix()...)
	if err != nil {
		t.Fatal(err)
	}
	secret := key[strings.LastIndexByte(key, '_')+1:]
	for _, kv := range resp.Kvs {
		if strings.Contains(string(kv.Value), secret) {
			t.Errorf("etcd key %s holds the secret", kv.Key)
		}
	}
	info, err := a.ShowKey(context.Background(), spec.ID)
	if err != nil || info.Source != "etcd" || info.SHA256 != spec.SHA256 || info.Revision == 0 || info.IsRevoked() {
		t.Errorf("ShowKey = %+v, %v; want the etcd record", info, err)
	}
	if _, _, err := a.CreateKey(context.Background(), "nobody", 0, meta); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateKey(unknown client) = %v, want ErrNotFound", err)
	}
	list, err := a.ListKeys(context.Background(), "acme-hris")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range list {
		ids = append(ids, k.ID+"/"+k.Source)
	}
	if got := strings.Join(ids, " "); !strings.Contains(got, "acmehris1/policy") || !strings.Contains(got, spec.ID+"/etcd") || !strings.Contains(got, "revoked1/policy") {
		t.Errorf("ListKeys(acme-hris) = %s, want acmehris1, %s and revoked1", got, spec.ID)
	}
	if len(list) != 3 {
		t.Errorf("ListKeys(acme-hris) = %d keys, want 3", len(list))
	}
}

func TestRotateKeyOverlap(t *testing.T) {
	t.Parallel()
	_, _, a, r := deployment(t)
	oldKey, oldSpec, err := a.CreateKey(context.Background(), "globex-bi", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	newKey, newSpec, err := a.RotateKey(context.Background(), oldSpec.ID, time.Hour, meta)
	if err != nil {
		t.Fatal(err)
	}
	if newSpec.Client != "globex-bi" || newSpec.ID == oldSpec.ID {
		t.Errorf("new key = %+v, want another key of globex-bi", newSpec)
	}
	info, err := a.ShowKey(context.Background(), newSpec.ID)
	if err != nil {
		t.Fatal(err)
	}
	snap := r.atRevision(t, info.Revision)
	now := time.Now()
	end := now.Add(time.Hour)
	for _, c := range []struct {
		name string
		key  string
		at   time.Time
		want bool
	}{
		{"old key during overlap", oldKey, now, true},
		{"new key during overlap", newKey, now, true},
		{"old key after overlap", oldKey, end.Add(time.Second), false},
		{"new key after overlap", newKey, end.Add(time.Second), true},
	} {
		if got := verify(snap, c.key, c.at); got != c.want {
			t.Errorf("%s: valid = %v, want %v", c.name, got, c.want)
		}
	}
	if _, _, err := a.RotateKey(context.Background(), "acmehris1", time.Hour, meta); !errors.Is(err, ErrNotFound) {
		t.Errorf("RotateKey(key of the document) = %v, want ErrNotFound", err)
	}
	if _, err := a.RevokeKey(context.Background(), newSpec.ID, meta); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.RotateKey(context.Background(), newSpec.ID, time.Hour, meta); err == nil {
		t.Error("RotateKey(revoked key) succeeded")
	}
	evs, _ := a.ListEvents(context.Background(), now.Add(-time.Minute), time.Time{})
	var rot *Event
	for i := range evs {
		if evs[i].Action == ActionKeyRotate {
			rot = &evs[i]
		}
	}
	if rot == nil || rot.Target != oldSpec.ID || rot.Details["new_key"] != newSpec.ID {
		t.Errorf("rotate event = %+v, want target %s and new_key %s", rot, oldSpec.ID, newSpec.ID)
	}
}

func TestRotateKeepsLifetime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	old := policy.KeySpec{ID: "abcdefgh1", Client: "c", NotBefore: "2026-01-01T00:00:00Z", NotAfter: "2026-04-01T00:00:00Z"}
	_, spec, err := rotated(&old, now, 24*time.Hour, meta)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := old.NotAfter, "2026-03-02T12:00:00Z"; got != want {
		t.Errorf("old not_after = %s, want %s", got, want)
	}
	if got, want := spec.NotAfter, "2026-05-30T12:00:00Z"; got != want {
		t.Errorf("new not_after = %s, want %s (90 days, the old lifetime)", got, want)
	}
	old = policy.KeySpec{ID: "abcdefgh1", Client: "c", NotAfter: "2026-03-01T13:00:00Z"}
	if _, _, err := rotated(&old, now, 24*time.Hour, meta); err != nil || old.NotAfter != "2026-03-01T13:00:00Z" {
		t.Errorf("overlap past the old expiry moved it to %s (%v), want it kept", old.NotAfter, err)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	_, _, a, r := deployment(t)
	key, spec, err := a.CreateKey(context.Background(), "acme-admin", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	m := Meta{Actor: "sec", Reason: "leaked in a log", Ticket: "SEC-9"}
	rev, err := a.RevokeKey(context.Background(), spec.ID, m)
	if err != nil {
		t.Fatal(err)
	}
	snap := r.atRevision(t, rev)
	if verify(snap, key, time.Now()) {
		t.Error("revoked key still verifies")
	}
	if _, err := a.RevokeKey(context.Background(), spec.ID, m); !errors.Is(err, ErrExists) {
		t.Errorf("second revoke = %v, want ErrExists", err)
	}
	if _, err := a.RevokeKey(context.Background(), "nosuchkey1", m); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke of an unknown key = %v, want ErrNotFound", err)
	}
	if _, err := a.RevokeKey(context.Background(), spec.ID, Meta{Actor: "sec"}); err == nil {
		t.Error("revoke without a reason succeeded")
	}
	rev, err = a.RevokeKey(context.Background(), "globexbi1", m) // a key of the document
	if err != nil {
		t.Fatal(err)
	}
	if snap = r.atRevision(t, rev); !snap.Key([]byte("globexbi1")).Revoked {
		t.Error("document key not revoked")
	}
	info, err := a.ShowKey(context.Background(), spec.ID)
	if err != nil || info.Revocation == nil || info.Revocation.Reason != m.Reason || info.Revocation.Actor != "sec" {
		t.Errorf("ShowKey(revoked) = %+v, %v; want the revocation with its reason", info, err)
	}
	b, _ := json.Marshal(info)
	if strings.Contains(string(b), key[strings.LastIndexByte(key, '_')+1:]) {
		t.Error("ShowKey output holds the secret")
	}
	evs, _ := a.ListEvents(context.Background(), time.Time{}, time.Time{})
	last := evs[len(evs)-1]
	if last.Action != ActionKeyRevoke || last.Target != "globexbi1" || last.Reason != m.Reason || last.Ticket != "SEC-9" || last.Revision != rev {
		t.Errorf("last event = %+v, want key.revoke of globexbi1 at %d with reason and ticket", last, rev)
	}
}

// A lifetime that puts not_after past what a key record can hold (2262)
// is refused, not stored as a record every sidecar skips.
func TestCreateKeyLifetimeOutOfRange(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t))
	doc := strings.Replace(string(examplePolicy(t)), "max_key_age: 87600h", "max_key_age: 2540400h", 1) // 290 years
	push(t, a, []byte(doc))
	if _, _, err := a.CreateKey(context.Background(), "acme-hris", 289*365*24*time.Hour, meta); err == nil {
		t.Fatal("CreateKey with a 289-year lifetime succeeded")
	}
	resp, err := a.cli.Get(context.Background(), a.k.KeysDir(), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 0 {
		t.Fatalf("key records in etcd: %v, %v; want none", resp, err)
	}
}

// TestRotateKeyTwiceRefused: rotating a key a second time made a second
// successor, the first one left valid and no longer named as the
// successor, and the new one valid only for the old key's shortened span
// (a 90-day key rotated with a 24h overlap got a successor of about a
// day). A rotated key is now refused, naming its successor.
func TestRotateKeyTwiceRefused(t *testing.T) {
	t.Parallel()
	_, _, a, _ := deployment(t)
	ctx := context.Background()
	_, old, err := a.CreateKey(ctx, "globex-bi", 90*24*time.Hour, meta)
	if err != nil {
		t.Fatal(err)
	}
	_, next, err := a.RotateKey(ctx, old.ID, 24*time.Hour, meta)
	if err != nil {
		t.Fatal(err)
	}
	_, again, err := a.RotateKey(ctx, old.ID, 24*time.Hour, meta)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), next.ID) {
		t.Errorf("second RotateKey(%s) = %+v, %v; want ErrExists naming the successor %s", old.ID, again, err, next.ID)
	}
	list, err := a.ListKeys(ctx, "globex-bi")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(list); n != 2+1 { // the document's globex key, old and next
		var ids []string
		for _, k := range list {
			ids = append(ids, k.ID)
		}
		t.Errorf("keys of globex-bi after the refused rotation: %v", ids)
	}
	// The successor itself rotates as usual.
	if _, _, err := a.RotateKey(ctx, next.ID, time.Hour, meta); err != nil {
		t.Errorf("RotateKey(successor) = %v", err)
	}
}
