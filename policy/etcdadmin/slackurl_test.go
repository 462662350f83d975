package etcdadmin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestPushRefusesASlackURLInTheClear: a Slack incoming webhook's URL is
// its credential (whoever holds it posts to the security team's channel
// as the alerts do). A policy pushed to etcd is served to every sidecar
// and kept in the policy history for good, so a Slack sink whose url:
// was the URL itself was pushed and handed to every pod. The push is
// refused now, naming the sink and its line but not the URL, and etcd
// holds nothing of it; the same sink given as url: env:NAME is pushed.
func TestPushRefusesASlackURLInTheClear(t *testing.T) {
	t.Parallel()
	cli := dial(t, shared)
	prefix := newPrefix(t)
	a := New(cli, prefix)
	const secret = "xK9secretWebhookPath"
	sink := []byte(`  - {name: secops, kind: webhook, url: "http://127.0.0.1:9099/alerts", secret: "env:PORTCULLIS_TICKET_SECRET"}`)
	doc := examplePolicy(t)
	if !bytes.Contains(doc, sink) {
		t.Fatal("examples/policy.yaml no longer has the webhook sink this test replaces")
	}
	clear := bytes.Replace(doc, sink, []byte(`  - {name: secops, kind: slack, url: "https://hooks.slack.com/services/T0001/B0001/`+secret+`"}`), 1)
	_, err := a.PushPolicy(context.Background(), clear, 0, meta)
	if !errors.Is(err, policy.ErrInvalid) || !strings.Contains(err.Error(), `"secops"`) || strings.Contains(err.Error(), secret) {
		t.Errorf("push of a Slack sink with its URL in the clear: %v; want a policy error naming the sink, not the URL", err)
	}
	kvs, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs.Kvs {
		if bytes.Contains(kv.Value, []byte(secret)) {
			t.Errorf("etcd key %s holds the Slack URL", kv.Key)
		}
	}
	ref := bytes.Replace(doc, sink, []byte(`  - {name: secops, kind: slack, url: "env:PORTCULLIS_SLACK_URL"}`), 1)
	if _, err := a.PushPolicy(context.Background(), ref, 0, meta); err != nil {
		t.Errorf("push of a Slack sink with url: env:NAME: %v", err)
	}
}
