package etcdadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// approvalPolicy is the lifecycle policy with privileged_key_approval on:
// a key of acme-admin, which holds privileged scopes, takes a second
// person's approval to make or rotate.
func approvalPolicy(t testing.TB) []byte {
	t.Helper()
	return bytes.Replace(lifecyclePolicy(t), []byte("  require_ticket: true"), []byte("  require_ticket: true\n  privileged_key_approval: true"), 1)
}

// grantedKeyApproval requests a key approval of route (KeysCreateRoute,
// KeysRotateRoute) for client as alice and grants it as bob, returning
// its id.
func grantedKeyApproval(t *testing.T, a *Admin, client, route string) string {
	t.Helper()
	ctx := context.Background()
	ap, err := a.RequestApproval(ctx, ApprovalRequest{Client: client, Route: route}, Meta{Actor: "alice", Reason: "key", Ticket: "CHG-70"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.GrantApproval(ctx, ap.ID, "bob", "ok", Meta{Actor: "bob", Ticket: "CHG-70"}); err != nil {
		t.Fatal(err)
	}
	return ap.ID
}

// A put or delete of the policy, a policy history entry, a key record or
// an approval record by hand (etcdctl with the operator's etcd role) left
// nothing in the trail: the follower skipped those keys by prefix. Each
// is now a flagged *_unattributed event naming the record and the etcd
// revision, never its value (a key record's SHA-256 reaches no event),
// and every CLI writer's own writes (policy push, keys create, rotate,
// revoke, revocations prune, approvals request, grant, deny and use)
// yield none.
func TestFollowFlagsRecordsWrittenByHand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	doc := approvalPolicy(t)
	push(t, a, doc)
	f := follow(t, a, 0)
	alice := Meta{Actor: "alice", Reason: "keys", Ticket: "CHG-70"}

	// Every CLI writer of these records.
	_, adm, err := a.CreateKey(ctx, "acme-admin", 0, withApproval(alice, grantedKeyApproval(t, a, "acme-admin", KeysCreateRoute)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.RotateKey(ctx, adm.ID, time.Hour, withApproval(alice, grantedKeyApproval(t, a, "acme-admin", KeysRotateRoute))); err != nil {
		t.Fatal(err)
	}
	_, hris, err := a.CreateKey(ctx, "acme-hris", 0, alice)
	if err != nil {
		t.Fatal(err)
	}
	_, hris2, err := a.RotateKey(ctx, hris.ID, time.Hour, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeKey(ctx, hris.ID, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeToken(ctx, "tok-1", time.Now().Add(-policy.MaxClockSkew-3*time.Hour), alice); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PruneRevocations(ctx, alice); err != nil {
		t.Fatal(err)
	}
	pending, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.DenyApproval(ctx, pending.ID, "bob", "no", Meta{Actor: "bob", Ticket: "CHG-70"}); err != nil {
		t.Fatal(err)
	}
	withdrawn := grantedKeyApproval(t, a, "acme-admin", KeysCreateRoute)
	if _, err := a.DenyApproval(ctx, withdrawn, "bob", "withdrawn", Meta{Actor: "bob", Ticket: "CHG-70"}); err != nil {
		t.Fatal(err)
	}
	used := grantedKeyApproval(t, a, "acme-admin", KeysCreateRoute)
	if err := a.RequireApproval(ctx, used, "acme-admin", KeysCreateRoute, alice); err != nil {
		t.Fatal(err)
	}
	push(t, a, append(slices.Clone(doc), "\n# pushed again\n"...))

	// By hand.
	ppol, err := cli.Put(ctx, k.Policy(), string(doc)+"\n# by hand\n")
	if err != nil {
		t.Fatal(err)
	}
	const sum = "b5fc76602f5855a0f39b1c200736677760a57e481a0b9ab472e53c86921d2ddf"
	rec, _ := json.Marshal(policy.KeySpec{ID: "handmade1", Client: "acme-admin", SHA256: sum})
	pkey, err := cli.Put(ctx, k.Key("handmade1"), string(rec))
	if err != nil {
		t.Fatal(err)
	}
	dkey, err := cli.Delete(ctx, k.Key(hris2.ID))
	if err != nil || dkey.Deleted != 1 {
		t.Fatalf("deleting key record %s by hand: %v", hris2.ID, err)
	}
	phist, err := cli.Put(ctx, k.History(ppol.Header.Revision), `{"document":"x"}`)
	if err != nil {
		t.Fatal(err)
	}
	papr, err := cli.Put(ctx, k.Approval("apr_handmade"), `{"id":"apr_handmade","state":"granted"}`)
	if err != nil {
		t.Fatal(err)
	}
	dapr, err := cli.Delete(ctx, k.Approval(pending.ID))
	if err != nil || dapr.Deleted != 1 {
		t.Fatalf("deleting approval record %s by hand: %v", pending.ID, err)
	}
	f.stopAfterLastKey(t, a, "acme-hris", alice)

	type flag struct {
		action, target string
		rev            int64
	}
	want := []flag{
		{ActionPolicyWritten, k.Policy(), ppol.Header.Revision},
		{ActionKeyWritten, "handmade1", pkey.Header.Revision},
		{ActionKeyDeleted, hris2.ID, dkey.Header.Revision},
		{ActionHistoryWritten, strings.TrimPrefix(k.History(ppol.Header.Revision), k.HistoryDir()), phist.Header.Revision},
		{ActionApprovalWritten, "apr_handmade", papr.Header.Revision},
		{ActionApprovalDeleted, pending.ID, dapr.Header.Revision},
	}
	var got []flag
	evs := f.events()
	for _, e := range unattributedOf(evs) {
		got = append(got, flag{e.Action, e.Target, e.Revision})
		if e.Unverified == "" || !strings.Contains(e.Unverified, "by hand, no event") {
			t.Errorf("%s of %q at revision %d is not flagged as by hand: %q", e.Action, e.Target, e.Revision, e.Unverified)
		}
		if e.Actor != "" {
			t.Errorf("%s names actor %q: etcd says nothing of who wrote it", e.Action, e.Actor)
		}
		b, _ := json.Marshal(e)
		if strings.Contains(string(b)+e.Unverified, sum) {
			t.Errorf("%s carries the key record's SHA-256: %s", e.Action, b)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("records changed by hand, followed:\n%v\nwant:\n%v\nall events: %+v", got, want, evs)
	}
}

// The outsider's sequence: with the operator's etcd role, put a policy
// that lets a privileged client's key rotate with no approval, run keys
// rotate, put the policy back. The rotation is a verified key.rotate
// event; the two puts of the policy were nothing in the trail. Each is
// now a flagged policy.written_unattributed at its revision.
func TestFollowFlagsPolicyPutByHandAroundARotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	doc := approvalPolicy(t)
	push(t, a, doc)
	alice := Meta{Actor: "alice", Reason: "rotate", Ticket: "CHG-71"}
	_, adm, err := a.CreateKey(ctx, "acme-admin", 0, withApproval(alice, grantedKeyApproval(t, a, "acme-admin", KeysCreateRoute)))
	if err != nil {
		t.Fatal(err)
	}
	f := follow(t, a, 0)
	lax := bytes.Replace(doc, []byte("privileged_key_approval: true"), []byte("privileged_key_approval: false"), 1)
	put1, err := cli.Put(ctx, k.Policy(), string(lax))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.RotateKey(ctx, adm.ID, time.Hour, alice); err != nil {
		t.Fatalf("keys rotate under the policy put by hand: %v; want it done with no approval (the hole the trail must show)", err)
	}
	put2, err := cli.Put(ctx, k.Policy(), string(doc))
	if err != nil {
		t.Fatal(err)
	}
	f.stopAfterLastKey(t, a, "acme-hris", alice)
	var got []int64
	rotated := false
	for _, e := range f.events() {
		switch {
		case e.Action == ActionPolicyWritten && e.Target == k.Policy() && e.Unverified != "":
			got = append(got, e.Revision)
		case e.Action == ActionKeyRotate && e.Target == adm.ID:
			rotated = e.Revision > put1.Header.Revision && e.Revision < put2.Header.Revision
		}
	}
	if want := []int64{put1.Header.Revision, put2.Header.Revision}; !slices.Equal(got, want) || !rotated {
		t.Errorf("flagged policy puts at %v (want %v), key.rotate between them: %v; events: %+v", got, want, rotated, f.events())
	}
}

// When etcd compacted the history after the resume revision, the
// follower reads the records as they are: a key record and the policy
// last written by hand since are flagged, those written with their
// events are not, and the events.gap says what cannot be seen.
func TestFollowCompactedFlagsRecordsWrittenByHand(t *testing.T) {
	t.Parallel()
	e, err := devetcd.Start(t.TempDir()) // its own server: the test compacts it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ctx := context.Background()
	cli := dial(t, e)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	k := etcdsync.NewLayout(prefix)
	doc := examplePolicy(t)
	push(t, a, doc)
	if _, _, err := a.CreateKey(ctx, "acme-hris", 0, meta); err != nil {
		t.Fatal(err)
	}
	pkey, err := cli.Put(ctx, k.Key("handmade1"), `{"id":"handmade1"}`)
	if err != nil {
		t.Fatal(err)
	}
	ppol, err := cli.Put(ctx, k.Policy(), string(doc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, ppol.Header.Revision); err != nil {
		t.Fatal(err)
	}
	f := follow(t, a, 1)
	waitFor(t, 20*time.Second, "the events.gap event", func() bool {
		return slices.ContainsFunc(f.events(), func(e Event) bool { return e.Action == ActionEventsGap })
	})
	f.stop()
	evs := f.events()
	var got []string
	for _, e := range unattributedOf(evs) {
		got = append(got, e.Action+" "+e.Target)
		if (e.Target == "handmade1" && e.Revision != pkey.Header.Revision) || (e.Target == k.Policy() && e.Revision != ppol.Header.Revision) || e.Unverified == "" {
			t.Errorf("%s of %s at revision %d: want flagged at its revision", e.Action, e.Target, e.Revision)
		}
	}
	if want := []string{ActionKeyWritten + " handmade1", ActionPolicyWritten + " " + k.Policy()}; !slices.Equal(got, want) {
		t.Errorf("unattributed events over compacted history = %v, want %v", got, want)
	}
	for _, e := range evs {
		if e.Action == ActionEventsGap && !strings.Contains(e.Unverified, "written over since") {
			t.Errorf("events.gap does not say a write by hand written over since is not seen: %q", e.Unverified)
		}
	}
}
