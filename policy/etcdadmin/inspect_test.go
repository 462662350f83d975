package etcdadmin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// A member record carries the digest of the document the sidecar enforces
// in the format of the policy history, so ListMembers can say whether
// each sidecar enforces the pushed document.
func TestListMembersDigestMatchesHistory(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	push(t, a, examplePolicy(t))
	runSyncer(t, cli, etcdsync.SyncConfig{Prefix: prefix, Pod: "pod-1"})
	ctx := context.Background()
	var f Fleet
	waitFor(t, 60*time.Second, "pod-1 with a digest", func() bool {
		var err error
		f, err = a.ListMembers(ctx)
		return err == nil && len(f.Members) == 1 && f.Members[0].PolicyDigest != ""
	})
	hist, err := a.PolicyHistory(ctx, 0)
	if err != nil || len(hist) != 1 {
		t.Fatalf("PolicyHistory = %v, %v", hist, err)
	}
	sum := sha256.Sum256(examplePolicy(t))
	want := hex.EncodeToString(sum[:])
	m := f.Members[0]
	if hist[0].Digest != want || f.PolicyDigest != want || m.PolicyDigest != want || !m.Current || m.Pod != "pod-1" {
		t.Errorf("ListMembers = %+v, history digest %s; want pod-1 current at %s", f, hist[0].Digest, want)
	}
}

// ListClients gives each client of the policy its suspension; ShowKey
// names the key that replaced a rotated one.
func TestListClientsAndSuccessor(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	a := New(cli, newPrefix(t))
	push(t, a, examplePolicy(t))
	ctx := context.Background()
	if _, err := a.Suspend(ctx, "globex-bi", time.Hour, meta); err != nil {
		t.Fatal(err)
	}
	cs, err := a.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if got, want := c.Suspension != nil, c.ID == "globex-bi"; got != want {
			t.Errorf("client %s suspended = %v, want %v", c.ID, got, want)
		}
	}
	_, first, err := a.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	_, second, err := a.RotateKey(ctx, first.ID, time.Hour, meta)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{first.ID: second.ID, second.ID: "", "acmehris1": ""} {
		k, err := a.ShowKey(ctx, id)
		if err != nil || k.Successor != want {
			t.Errorf("ShowKey(%s).Successor = %q, %v; want %q", id, k.Successor, err, want)
		}
	}
}

// The etcd user a change was written as is recorded in its event (only
// claimed: the shared etcd has no authentication, ListEvents).
func TestEventRecordsEtcdUser(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	a := New(cli, newPrefix(t))
	m := meta
	m.EtcdUser = "ops-bot"
	if _, err := a.PushPolicy(context.Background(), examplePolicy(t), 0, m); err != nil {
		t.Fatal(err)
	}
	evs, err := a.ListEvents(context.Background(), time.Time{}, time.Time{})
	if err != nil || len(evs) != 1 || eventUser(&evs[0]) != "ops-bot" || evs[0].Actor != "tester" {
		t.Errorf("events = %+v, %v; want one by tester with etcd user ops-bot", evs, err)
	}
}
