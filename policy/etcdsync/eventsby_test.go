package etcdsync

import (
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The events under an etcd user's directory lie inside the one watch of
// the collector's follower (approval-uses/ to the end of suspensions/)
// and the range its catch-up reads (approval-uses/ to the end of
// events/), and under no prefix the sidecars or the key listing read.
func TestEventsByLiesInTheFollowersRanges(t *testing.T) {
	t.Parallel()
	k := NewLayout("/portcullis/default")
	key, err := k.EventBy("ops-alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]string{
		{k.ApprovalUsesDir(), clientv3.GetPrefixRangeEnd(k.SuspensionsDir())},
		{k.ApprovalUsesDir(), clientv3.GetPrefixRangeEnd(k.EventsDir())},
	} {
		if key < r[0] || key >= r[1] {
			t.Errorf("event key %q outside [%q, %q)", key, r[0], r[1])
		}
	}
	if !(k.EventsByDir() < k.EventsDir()) {
		t.Errorf("%q does not sort before %q", k.EventsByDir(), k.EventsDir())
	}
	for _, dir := range []string{k.KeysDir(), k.RevocationsDir(), k.SuspensionsDir(), k.Policy(), k.HistoryDir(), k.ApprovalTree(), k.MembersDir(), k.DemandDir(), k.EventsDir()} {
		if strings.HasPrefix(key, dir) {
			t.Errorf("event key %q lies under %q", key, dir)
		}
	}
}

// EventWriter names the user of the directory a key lies in, as EventsBy
// escapes it, and no user for a key in no directory EventsBy makes.
func TestEventWriter(t *testing.T) {
	t.Parallel()
	k := NewLayout("/p")
	for _, user := range []string{"ops-alice", "a/b", "ops%2Dx", "é"} {
		key, err := k.EventBy(user, time.Unix(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := k.EventWriter(key); !ok || got != user {
			t.Errorf("EventWriter(%q) = %q %v, want %q", key, got, ok, user)
		}
		if s, ok := k.EventSuffix(key); !ok || s != "00000000001000000000"+key[len(key)-9:] {
			t.Errorf("EventSuffix(%q) = %q %v", key, s, ok)
		}
	}
	for _, key := range []string{"/p/events/1-2", "/p/events-by/ops-alice", "/p/events-by//1-2", "/p/events-by/ops%2Dalice/1-2", "/p/events-by/a%zz/1-2"} {
		if got, ok := k.EventWriter(key); ok {
			t.Errorf("EventWriter(%q) = %q, want no user", key, got)
		}
	}
	if got, ok := k.EventWriter("/p/events-by/ops-alice/x/y"); !ok || got != "ops-alice" {
		t.Errorf("EventWriter of a deeper key = %q %v, want ops-alice (her role's range holds it)", got, ok)
	}
}
