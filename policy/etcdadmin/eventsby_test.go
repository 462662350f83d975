package etcdadmin

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// forgePush writes, in one transaction as an operator's etcd role can, a
// put of the policy doc and a policy.push event at key (under prefix)
// whose value claims actor bob and etcd user ops-bob. It returns the
// revision.
func forgePush(t *testing.T, a *Admin, key string, doc []byte) int64 {
	t.Helper()
	return forgePushClaiming(t, a, key, doc, "ops-bob")
}

// forgePushClaiming is forgePush with the value claiming etcd user claim
// ("": naming none).
func forgePushClaiming(t *testing.T, a *Admin, key string, doc []byte, claim string) int64 {
	t.Helper()
	ctx := context.Background()
	resp, err := a.cli.Get(ctx, a.Prefix()+"/policy")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("reading the policy: %v", err)
	}
	d := map[string]string{"previous_revision": strconv.FormatInt(resp.Kvs[0].ModRevision, 10)}
	if claim != "" {
		d["etcd_user"] = claim
	}
	ev, err := json.Marshal(Event{Time: time.Now().UTC(), Actor: "bob", Action: ActionPolicyPush, Target: a.Prefix() + "/policy", Ticket: "CHG-1", Details: d})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := a.cli.Txn(ctx).Then(clientv3.OpPut(a.Prefix()+"/policy", string(doc)), clientv3.OpPut(key, string(ev))).Commit()
	if err != nil || !tx.Succeeded {
		t.Fatalf("the forged transaction: %v", err)
	}
	return tx.Header.Revision
}

// followedAt follows a from 0 until rev and returns its events at rev, as
// a follower that found etcd's authentication on before its first write
// (authOnSinceStart) would.
func followedAt(t *testing.T, a *Admin, rev int64) []Event {
	t.Helper()
	f := followFrom(t, a, 0, Witnesses{Auth: authOnSinceStart(t, a)}, nil) // authEtcd's: on since its start
	f.waitAt(t, rev)
	f.stop()
	var out []Event
	for _, e := range f.events() {
		if e.Revision == rev {
			out = append(out, e)
		}
	}
	return out
}

// A policy put with a forged policy.push event in alice's transaction,
// written under her own events-by/ops-alice/ directory but naming actor
// bob and etcd user ops-bob, names ops-alice in the trail: the etcd user
// comes from the key, which etcd's authentication lets only her role
// write, and the event is flagged event.misattributed, the claim kept
// apart. It still speaks for the put (same transaction): its writer is
// named. Before, the follower skipped events-by/, the put was flagged
// policy.written_unattributed, and nothing named ops-alice.
func TestFollowBindsAForgedEventToItsDirectory(t *testing.T) {
	t.Parallel()
	a := New(authEtcd(t), newPrefix(t)) // a directory binds its user only under etcd authentication
	doc := examplePolicy(t)
	push(t, a, doc)
	key := a.Prefix() + "/events-by/ops-alice/" + fmt.Sprintf("%020d-0badf00d", time.Now().UnixNano())
	rev := forgePush(t, a, key, doc)
	evs := followedAt(t, a, rev)
	if len(evs) != 1 {
		t.Fatalf("events at the forged revision = %+v, want the policy.push alone (spoken for, no _unattributed)", evs)
	}
	ev := evs[0]
	if ev.Action != ActionPolicyPush || ev.Details[DetailEtcdUser] != "ops-alice" || ev.Details[DetailClaimedEtcdUser] != "ops-bob" ||
		!strings.HasPrefix(ev.Unverified, FlagMisattributed) {
		t.Errorf("forged event = action %q etcd_user %q claimed %q unverified %q; want policy.push naming ops-alice, claiming ops-bob, flagged %s",
			ev.Action, ev.Details[DetailEtcdUser], ev.Details[DetailClaimedEtcdUser], ev.Unverified, FlagMisattributed)
	}
}

// Every CLI that writes under events-by/<user>/ names that user in the
// value (eventOp sets DetailEtcdUser; the detail is older than the
// directory), so an event there naming no etcd user is no CLI's: written
// by hand with the user's role. It passed unflagged; it is flagged
// event.misattributed, still naming the directory's user, and still
// speaks for its transaction's put (its writer named).
func TestFollowFlagsAnEventByNamingNoUser(t *testing.T) {
	t.Parallel()
	a := New(authEtcd(t), newPrefix(t)) // a directory binds its user only under etcd authentication
	doc := examplePolicy(t)
	push(t, a, doc)
	key := a.Prefix() + "/events-by/ops-alice/" + fmt.Sprintf("%020d-0badf00d", time.Now().UnixNano())
	rev := forgePushClaiming(t, a, key, doc, "")
	evs := followedAt(t, a, rev)
	if len(evs) != 1 {
		t.Fatalf("events at the forged revision = %+v, want the policy.push alone (spoken for, no _unattributed)", evs)
	}
	ev := evs[0]
	if ev.Action != ActionPolicyPush || ev.Details[DetailEtcdUser] != "ops-alice" || !strings.HasPrefix(ev.Unverified, FlagMisattributed) {
		t.Errorf("event naming no etcd user = action %q etcd_user %q unverified %q; want policy.push naming ops-alice, flagged %s",
			ev.Action, ev.Details[DetailEtcdUser], ev.Unverified, FlagMisattributed)
	}
	listed, err := a.ListEventsAuth(context.Background(), time.Time{}, time.Time{}, authOnSinceStart(t, a))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range listed {
		if e.Revision == rev && !strings.HasPrefix(e.Unverified, FlagMisattributed) {
			t.Errorf("ListEvents: event naming no etcd user unverified %q, want flagged %s", e.Unverified, FlagMisattributed)
		}
	}
}

// An event under events/, which no etcd user's directory binds, names no
// etcd user in the trail however it claims one: the claim is kept as
// claimed_etcd_user. Before, the trail named ops-bob for whoever wrote it.
func TestFollowNamesNoUserForAnEventUnderEvents(t *testing.T) {
	t.Parallel()
	a := New(dial(t, shared), newPrefix(t))
	doc := examplePolicy(t)
	push(t, a, doc)
	key := a.Prefix() + "/events/" + fmt.Sprintf("%020d-0badf00d", time.Now().UnixNano())
	rev := forgePush(t, a, key, doc)
	evs := followedAt(t, a, rev)
	if len(evs) != 1 {
		t.Fatalf("events at the forged revision = %+v, want the policy.push alone", evs)
	}
	if d := evs[0].Details; d[DetailEtcdUser] != "" || d[DetailClaimedEtcdUser] != "ops-bob" {
		t.Errorf("event under events/ names etcd user %q (claimed %q); want none, the claim ops-bob kept apart", d[DetailEtcdUser], d[DetailClaimedEtcdUser])
	}
	listed, err := a.ListEvents(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range listed {
		if e.Revision == rev && e.Details[DetailEtcdUser] != "" {
			t.Errorf("ListEvents names etcd user %q for the event under events/", e.Details[DetailEtcdUser])
		}
	}
}

// A change written as an etcd user puts its event under that user's
// events-by/ directory; ListEvents and the follower name that user, from
// the key, and the event verifies. A change with no etcd user stays
// under events/. A "/" in a user name is escaped, so it cannot reach into
// another user's directory.
func TestEventsUnderTheWritersDirectory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(authEtcd(t), newPrefix(t)) // a directory binds its user only under etcd authentication
	push(t, a, examplePolicy(t))
	for _, user := range []string{"ops-alice", "ops-bob/x"} {
		if _, _, err := a.CreateKey(ctx, "acme-hris", 0, Meta{Actor: "alice", Ticket: "T-1", EtcdUser: user}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := a.ListEventsAuth(ctx, time.Time{}, time.Time{}, authOnSinceStart(t, a)) // ListEvents proves nothing of the past
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		dir := "events/"
		if !strings.HasPrefix(e.Key, a.k.EventsDir()) {
			dir = strings.TrimPrefix(e.Key[:strings.LastIndex(e.Key, "/")+1], a.Prefix()+"/")
		}
		got = append(got, e.Action+" "+dir+" "+e.Details[DetailEtcdUser]+" "+e.Unverified)
	}
	want := []string{ActionPolicyPush + " events/  ", ActionKeyCreate + " events-by/ops-alice/ ops-alice ", ActionKeyCreate + " events-by/ops-bob%2Fx/ ops-bob/x "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("ListEvents = %q, want %q", got, want)
	}
	last := evs[len(evs)-1]
	for _, e := range followedAt(t, a, last.Revision) {
		if e.Action == ActionKeyCreate && (e.Details[DetailEtcdUser] != "ops-bob/x" || e.Unverified != "") {
			t.Errorf("followed key.create = etcd user %q, unverified %q; want ops-bob/x, verified", e.Details[DetailEtcdUser], e.Unverified)
		}
	}
}

// A delete of an event, under events-by/ (a person's role may delete her
// own) or events/, is stored flagged, event.deleted, naming the key and
// the user of its directory; a rewrite of one is flagged as a rewrite of
// events/ is. Before, the follower passed a delete of an event on as
// nothing.
func TestFollowFlagsADeletedOrRewrittenEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := New(authEtcd(t), newPrefix(t)) // a directory binds its user only under etcd authentication
	push(t, a, examplePolicy(t))
	if _, _, err := a.CreateKey(ctx, "acme-hris", 0, Meta{Actor: "alice", Ticket: "T-1", EtcdUser: "ops-alice"}); err != nil {
		t.Fatal(err)
	}
	resp, err := a.cli.Get(ctx, a.Prefix()+"/events-by/ops-alice/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("alice's events: %v %v, want one", resp, err)
	}
	kv := resp.Kvs[0]
	rw, err := a.cli.Put(ctx, string(kv.Key), string(kv.Value))
	if err != nil {
		t.Fatal(err)
	}
	del, err := a.cli.Delete(ctx, string(kv.Key))
	if err != nil {
		t.Fatal(err)
	}
	// An event under events/, deleted by hand as the operator role can.
	if _, _, err := a.CreateKey(ctx, "acme-hris", 0, meta); err != nil {
		t.Fatal(err)
	}
	plain, err := a.cli.Get(ctx, a.Prefix()+"/events/", append([]clientv3.OpOption{clientv3.WithPrefix()}, clientv3.WithLastCreate()...)...)
	if err != nil || len(plain.Kvs) == 0 {
		t.Fatalf("the events under events/: %v %v", plain, err)
	}
	delPlain, err := a.cli.Delete(ctx, string(plain.Kvs[0].Key))
	if err != nil {
		t.Fatal(err)
	}
	f := followFrom(t, a, 0, Witnesses{Auth: authOnSinceStart(t, a)}, nil) // authEtcd's: on since its start
	f.waitAt(t, delPlain.Header.Revision)
	f.stop()
	var rewritten, deleted, deletedPlain bool
	for _, e := range f.events() {
		switch {
		case e.Revision == rw.Header.Revision:
			rewritten = strings.Contains(e.Unverified, "rewritten") && e.Details[DetailEtcdUser] == "ops-alice"
		case e.Revision == del.Header.Revision:
			deleted = e.Action == ActionEventDeleted && e.Key == string(kv.Key) && e.Unverified != "" && e.Details[DetailEtcdUser] == "ops-alice" &&
				e.Details["created_revision"] == strconv.FormatInt(kv.CreateRevision, 10)
		case e.Revision == delPlain.Header.Revision:
			deletedPlain = e.Action == ActionEventDeleted && e.Key == string(plain.Kvs[0].Key) && e.Unverified != "" && e.Details[DetailEtcdUser] == ""
		}
	}
	if !rewritten || !deleted || !deletedPlain {
		t.Errorf("rewrite flagged %v, delete under events-by/ flagged %v, under events/ %v; want all: %+v", rewritten, deleted, deletedPlain, f.events())
	}
}
