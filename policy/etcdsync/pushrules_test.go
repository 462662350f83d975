package etcdsync_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
	"github.com/rs/zerolog"
)

// A policy breaking a push rule (here written by hand: push refuses it)
// still loads, as one pushed before the rule did, and the sidecar logs
// what push would refuse, as the file-mode sidecar does: before, the
// etcd-mode one served it without a word. Once for each revision, and
// without the Slack URL, which is the webhook's credential.
func TestSyncerLogsPushRules(t *testing.T) {
	t.Parallel()
	cli, k, _ := examplePushed(t)
	const secret = "Xq9pL2mVtRw7sYz3"
	sink := []byte(`  - {name: secops, kind: webhook, url: "http://127.0.0.1:9099/alerts", secret: "env:PORTCULLIS_TICKET_SECRET"}`)
	doc := bytes.Replace(examplePolicy(t), sink, []byte(`  - {name: secops, kind: slack, url: "https://hooks.slack.com/services/T0001/B0001/`+secret+`"}`), 1)
	doc = bytes.Replace(doc, []byte("tenants:\n"), []byte("tenants:\n  - {id: acme.eu, name: Acme Europe}\n"), 1)
	resp, err := cli.Put(context.Background(), k.Policy(), string(doc))
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	r := runSyncer(t, cli, etcdsync.SyncConfig{Prefix: string(k), Logger: zerolog.New(logs).Level(zerolog.DebugLevel)})
	r.atRevision(t, resp.Header.Revision)
	// A later state of the same policy revision (a key revoked) logs nothing again.
	rev, err := cli.Put(context.Background(), k.Revocation("acmeadm1"), `{"id":"acmeadm1","actor":"sec","reason":"leaked"}`)
	if err != nil {
		t.Fatal(err)
	}
	r.atRevision(t, rev.Header.Revision)
	got := logs.String()
	for _, want := range []string{`ticket sink \"secops\": a Slack incoming webhook's URL is its credential`, `tenant id \"acme.eu\" is tenant \"acme\" followed by '.'`} {
		if n := strings.Count(got, want); n != 1 {
			t.Errorf("logs say %q %d times; want once:\n%s", want, n, got)
		}
	}
	if strings.Contains(got, secret) {
		t.Errorf("logs hold the Slack URL's secret:\n%s", got)
	}
}
