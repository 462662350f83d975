package etcdadmin

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// forge commits ops with the event of action on target (details) in one
// transaction, as the operator's etcd role can, and returns its revision.
func forge(t *testing.T, a *Admin, action, target string, details map[string]string, ops ...clientv3.Op) int64 {
	t.Helper()
	ev, err := a.eventOp(time.Now(), action, target, Meta{Actor: "mallory", Ticket: "CHG-72"}, details)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := a.cli.Txn(context.Background()).Then(append(ops, ev)...).Commit()
	if err != nil || !tx.Succeeded {
		t.Fatalf("the transaction by hand: %v", err)
	}
	return tx.Header.Revision
}

// flaggedAt follows a from 0 until rev and returns the unattributed
// events, as "action target".
func flaggedAt(t *testing.T, f *follower, rev int64) []string {
	t.Helper()
	f.waitAt(t, rev)
	f.stop()
	var got []string
	for _, e := range unattributedOf(f.events()) {
		got = append(got, e.Action+" "+e.Target)
	}
	return got
}

// A brand-new history entry numbered between older pushes, created in a
// push's transaction, was taken for the push's own: any number up to the
// revision passed. PushPolicy numbers its entry the revision it read,
// plus one, after the policy's previous revision; an entry numbered
// otherwise is flagged.
func TestFollowFlagsHistoryEntryNumberedBeforeItsPush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	doc := examplePolicy(t)
	first := push(t, a, doc)
	if _, _, err := a.CreateKey(ctx, "acme-hris", 0, meta); err != nil {
		t.Fatal(err)
	}
	second := push(t, a, append(slices.Clone(doc), "\n# second\n"...))
	f := follow(t, a, second)
	between := a.k.History(first + 1) // no push's entry: CreateKey wrote at first+1
	hist, err := putJSON(between, HistoryEntry{Time: time.Now().UTC(), Actor: "alice", Document: "# in force, said nobody\n"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.cli.Get(ctx, a.k.Policy())
	if err != nil {
		t.Fatal(err)
	}
	prev := strconv.FormatInt(second, 10)
	read := strconv.FormatInt(resp.Header.Revision, 10)
	rev := forge(t, a, ActionPolicyPush, a.k.Policy(), map[string]string{"previous_revision": prev, "read_revision": read},
		clientv3.OpPut(a.k.Policy(), string(doc)), hist, clientv3.OpPut(a.k.History(resp.Header.Revision+1), `{"document":"x"}`))
	id := strings.TrimPrefix(between, a.k.HistoryDir())
	if got, want := flaggedAt(t, f, rev), []string{ActionHistoryWritten + " " + id}; !slices.Equal(got, want) {
		t.Errorf("unattributed events = %v, want %v: the entry numbered between older pushes is not flagged", got, want)
	}
}

// A policy.push naming an older previous_revision than the policy it
// replaced would speak for an entry numbered between older pushes: the
// event itself is stored unverified, naming the revision it replaced.
func TestFollowFlagsPushNamingAnotherPreviousRevision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	doc := examplePolicy(t)
	first := push(t, a, doc)
	if _, _, err := a.CreateKey(ctx, "acme-hris", 0, meta); err != nil {
		t.Fatal(err)
	}
	second := push(t, a, append(slices.Clone(doc), "\n# second\n"...))
	f := follow(t, a, second)
	hist, err := putJSON(a.k.History(first+1), HistoryEntry{Time: time.Now().UTC(), Actor: "alice", Document: "# in force, said nobody\n"})
	if err != nil {
		t.Fatal(err)
	}
	rev := forge(t, a, ActionPolicyPush, a.k.Policy(), map[string]string{"previous_revision": strconv.FormatInt(first, 10), "read_revision": strconv.FormatInt(first, 10)},
		clientv3.OpPut(a.k.Policy(), string(doc)), hist)
	f.waitAt(t, rev)
	f.stop()
	want := fmt.Sprintf("policy push names previous_revision %d, but the policy it replaced was written at revision %d", first, second)
	i := slices.IndexFunc(f.events(), func(e Event) bool { return e.Action == ActionPolicyPush && e.Revision == rev })
	if i < 0 || f.events()[i].Unverified != want {
		t.Errorf("policy.push at %d naming an older previous_revision: %+v; want it unverified: %q", rev, f.events(), want)
	}
}

// A key.rotate event spoke for any rewrite of the old key's record, its
// SHA-256 too. A rotation only sets the old key's not_after (to its
// overlap's end, never later); any other change is flagged.
func TestFollowFlagsOldKeyRewrittenBeyondARotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, examplePolicy(t))
	_, old, err := a.CreateKey(ctx, "acme-hris", 0, meta)
	if err != nil {
		t.Fatal(err)
	}
	f := follow(t, a, 0)
	_, next, err := policy.GenerateKey("acme-hris", "mallory", "CHG-72", time.Now(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	swapped := old
	swapped.SHA256 = strings.Repeat("ab", 32) // another secret under the old id
	swapped.NotAfter = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	putOld, _ := putJSON(a.k.Key(old.ID), swapped)
	putNew, _ := putJSON(a.k.Key(next.ID), next)
	rev := forge(t, a, ActionKeyRotate, old.ID, map[string]string{"client": old.Client, "new_key": next.ID, "old_not_after": swapped.NotAfter}, putOld, putNew)
	if got, want := flaggedAt(t, f, rev), []string{ActionKeyWritten + " " + old.ID}; !slices.Equal(got, want) {
		t.Errorf("unattributed events = %v, want %v: the old key's SHA-256 rewritten under key.rotate is not flagged", got, want)
	}
}

// An approval.grant or approval.deny event spoke for a rewrite of the
// record into any state. A record written under a grant must be granted,
// by the approver the event names; under a deny, denied.
func TestFollowFlagsApprovalRecordInAnotherStateThanItsDecision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(dial(t, shared), newPrefix(t))
	push(t, a, approvalPolicy(t))
	alice := Meta{Actor: "alice", Reason: "key", Ticket: "CHG-72"}
	denied, err := a.RequestApproval(ctx, ApprovalRequest{Client: "acme-admin", Route: KeysCreateRoute}, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.DenyApproval(ctx, denied.ID, "bob", "no", Meta{Actor: "bob", Ticket: "CHG-72"}); err != nil {
		t.Fatal(err)
	}
	granted := grantedKeyApproval(t, a, "acme-admin", KeysCreateRoute)
	f := follow(t, a, 0)
	rec := func(id string) etcdsync.Approval {
		resp, err := a.cli.Get(ctx, a.k.Approval(id))
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("reading approval %s: %v", id, err)
		}
		var ap etcdsync.Approval
		if err := json.Unmarshal(resp.Kvs[0].Value, &ap); err != nil {
			t.Fatal(err)
		}
		return ap
	}
	// A denied record put back as granted under a deny event, and a
	// granted one re-granted by another approver under bob's grant.
	reopened := rec(denied.ID)
	reopened.State, reopened.Approver = etcdsync.ApprovalGranted, "bob"
	put1, _ := putJSON(a.k.Approval(denied.ID), reopened)
	forge(t, a, etcdsync.ActionApprovalDeny, denied.ID, approvalDetails(reopened), put1)
	regranted := rec(granted)
	details := approvalDetails(regranted)
	regranted.Approver = "mallory"
	put2, _ := putJSON(a.k.Approval(granted), regranted)
	rev := forge(t, a, etcdsync.ActionApprovalGrant, granted, details, put2)
	want := []string{ActionApprovalWritten + " " + denied.ID, ActionApprovalWritten + " " + granted}
	if got := flaggedAt(t, f, rev); !slices.Equal(got, want) {
		t.Errorf("unattributed events = %v, want %v: a record in another state than its event's decision is not flagged", got, want)
	}
}
