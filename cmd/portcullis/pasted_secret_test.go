package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
)

// A key an operator pastes into a change's free text (keys revoke
// --reason "leaked: pk_...", a ticket, an approver's note, a name) is
// cleared before anything is written: it went to etcd in the clear, in the
// record and the lifecycle event, and from there into the collector's
// hash-chained trail, where nothing can take it out (the evidence pack's
// scan only reported it). The commands still run, the credential replaced
// by [REDACTED], the key id kept.
func TestPastedSecretNeverReachesEtcd(t *testing.T) {
	t.Parallel()
	const prefix = "/pasted-secret"
	e, admin := etcdAdmin(t, prefix)
	ctx := context.Background()
	if _, err := admin.PushPolicy(ctx, mustRead(t, examplePolicy), 0, etcdadmin.Meta{Actor: "alice", Reason: "setup", Ticket: "T-1"}); err != nil {
		t.Fatal(err)
	}
	const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhY21lLWFkbWluIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
	secret := acmeAdminKey[strings.LastIndexByte(acmeAdminKey, '_')+1:]
	run := func(name string, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append(args, "--etcd", e.Endpoints()[0], "--prefix", prefix)
		if code := etcdSub(t, name).main(args, &out, &errOut); code != 0 {
			t.Fatalf("%s = exit %d: %s%s", name, code, out.String(), errOut.String())
		}
		return out.String()
	}
	run("keys revoke", "acmeadm1", "--reason", "leaked in a chat: "+acmeAdminKey, "--ticket", "INC-7 "+acmeAdminKey, "--actor", "alice")
	out := run("approvals request", "--client", "acme-admin", "--route", "POST /v1/exports/full", "--reason", "rerun with "+token,
		"--ticket", "CHG-56", "--actor", "alice", "--json")
	var ap etcdsync.Approval
	if err := json.Unmarshal([]byte(out), &ap); err != nil {
		t.Fatalf("approvals request printed %q: %v", out, err)
	}
	run("approvals grant", ap.ID, "--approver", "bob", "--actor", "bob", "--note", "checked, the key was "+acmeAdminKey)
	run("clients suspend", "globex-bi", "--for", "1h", "--reason", "Authorization: Bearer "+token, "--actor", "carol")
	const alertID = "alert-20261201T150405Z-0123456789abcdef"
	run("alerts close", alertID, "--note", "the caller sent "+acmeAdminKey, "--corrective-action", "rotated "+acmeAdminKey, "--actor", "carol")

	resp, err := dialEtcdForTest(t, e.Endpoints()[0]).Get(ctx, prefix+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	redacted := 0
	for _, kv := range resp.Kvs {
		v := string(kv.Value)
		for _, s := range []string{secret, token, "c2lnbmF0dXJlc2lnbmF0dXJl"} {
			if strings.Contains(v, s) {
				t.Errorf("%s holds a pasted credential (%.12s...): %.200s", kv.Key, s, v)
			}
		}
		redacted += strings.Count(v, "[REDACTED]")
	}
	if redacted == 0 {
		t.Errorf("no [REDACTED] in etcd under %s: the commands' texts are gone, want them kept with the credential cleared", prefix)
	}
}

func dialEtcdForTest(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// A secret an operator writes in prose or as a pair in a change's free
// text ("password hunter2", "password: correct horse", "api_key=abc123")
// has no credential's shape, and credential.Redact alone wrote it to etcd,
// and from there to the collector's trail and every ticket of an alert it
// was a reason of. The commands clear it with the collector's rules for
// free text (collector.RedactText) before anything is written.
func TestPastedProseSecretNeverReachesEtcd(t *testing.T) {
	t.Parallel()
	const prefix = "/pasted-prose-secret"
	e, admin := etcdAdmin(t, prefix)
	ctx := context.Background()
	if _, err := admin.PushPolicy(ctx, mustRead(t, examplePolicy), 0, etcdadmin.Meta{Actor: "alice", Reason: "setup", Ticket: "T-1"}); err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append(args, "--etcd", e.Endpoints()[0], "--prefix", prefix)
		if code := etcdSub(t, name).main(args, &out, &errOut); code != 0 {
			t.Fatalf("%s = exit %d: %s%s", name, code, out.String(), errOut.String())
		}
	}
	run("keys revoke", "acmeadm1", "--reason", "leaked: the password hunter2 was in the chat", "--ticket", "INC-7", "--actor", "alice")
	run("clients suspend", "globex-bi", "--for", "1h", "--reason", "the bot logged api_key=abc123 in clear", "--actor", "carol")
	const alertID = "alert-20261201T150405Z-0123456789abcdef"
	run("alerts ack", alertID, "--note", "its log said password: correct horse", "--actor", "carol")
	run("alerts close", alertID, "--note", "the caller wrote passwd opensesame5 in its request id",
		"--corrective-action", "rotated; old token: tiger-lily-7", "--actor", "carol")

	resp, err := dialEtcdForTest(t, e.Endpoints()[0]).Get(ctx, prefix+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	redacted := 0
	for _, kv := range resp.Kvs {
		v := string(kv.Value)
		for _, s := range []string{"hunter2", "abc123", "correct horse", "opensesame5", "tiger-lily-7"} {
			if strings.Contains(v, s) {
				t.Errorf("%s holds the secret %q: %.300s", kv.Key, s, v)
			}
		}
		redacted += strings.Count(v, "[REDACTED]")
	}
	if redacted < 5 {
		t.Errorf("%d [REDACTED] in etcd under %s, want 5 or more: the commands' texts kept, each secret cleared", redacted, prefix)
	}
}
