package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// events list --since from etcd selects events by the time in their
// keys, which their writer chose: an event put by hand with a key dated
// a year back is left out of --since 24h however recently it was written,
// and the listing said nothing of it. It now says, on stderr, whose time
// --since compares; the trail (--data) dates events by the collector.
func TestEventsListSinceFromEtcdSaysWhoseTime(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	const prefix = "/since-time"
	r := etcdRunner{t: t, common: []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", prefix}}
	r.run(0, "policy", "push", examplePolicy, "--reason", "first")
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	back := time.Now().Add(-365 * 24 * time.Hour).UTC()
	v, err := json.Marshal(etcdadmin.Event{Time: back, Actor: "mallory", Action: etcdadmin.ActionClientResume, Target: "acme-admin"})
	if err != nil {
		t.Fatal(err)
	}
	key := etcdsync.NewLayout(prefix).EventBound(back) + fmt.Sprintf("-%08x", 1)
	if _, err := cli.Put(context.Background(), key, string(v)); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := eventsList(append([]string{"--since", "24h", "--format", "json"}, r.common...), &out, &errOut, time.Now()); code != 0 {
		t.Fatalf("events list --since 24h = exit %d: %s", code, &errOut)
	}
	if strings.Contains(out.String(), "mallory") {
		t.Errorf("events list --since 24h listed the event keyed a year back: %s", &out)
	}
	if !strings.Contains(errOut.String(), "--since compares the time in each event's key, which its writer chose") {
		t.Errorf("events list --since 24h from etcd: stderr %q, want a note that --since compares the writer's key time", &errOut)
	}
	errOut.Reset()
	if code := eventsList(append([]string{"--format", "json"}, r.common...), &out, &errOut, time.Now()); code != 0 || errOut.Len() != 0 {
		t.Errorf("events list without --since = exit %d, stderr %q; want 0 and no note", code, &errOut)
	}
}
