package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devetcd"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/portcullis/portcullis/policy/etcdsync"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestKeysRevokeTokenExp: keys revoke jti:<id> --token-exp writes the
// revocation's expiry (the token's exp plus 5m), refuses a --token-exp
// that does not parse or that names a key's revocation, and keys
// prune-revocations deletes only what has expired.
func TestKeysRevokeTokenExp(t *testing.T) {
	t.Parallel()
	e, err := devetcd.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	common := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/tokexp"}
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		cmd, ok := lookupEtcd(args[0] + " " + args[1])
		if !ok {
			t.Fatalf("no command %q", args[:2])
		}
		if got := cmd.main(append(args[2:], common...), &out, &errOut); got != want {
			t.Fatalf("portcullis %s = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, want, &out, &errOut)
		}
		return out.String() + errOut.String()
	}
	run(0, "policy", "push", examplePolicy, "--reason", "first")
	if out := run(2, "keys", "revoke", "jti:a", "--reason", "r", "--token-exp", "tomorrow"); !strings.Contains(out, "--token-exp tomorrow: want") {
		t.Errorf("unparsable --token-exp said %q, want the flag and value named", out)
	}
	if out := run(1, "keys", "revoke", "acmehris1", "--reason", "r", "--token-exp", "1767225600"); !strings.Contains(out, "not the key") {
		t.Errorf("--token-exp on a key said %q, want it refused", out)
	}
	past := time.Now().Add(-etcdadmin.PruneGrace - 10*time.Minute).Unix() // lapsed, and the grace passed
	run(0, "keys", "revoke", "jti:recent", "--reason", "leaked", "--token-exp", strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10))
	run(0, "keys", "revoke", "jti:old", "--reason", "leaked", "--token-exp", strconv.FormatInt(past, 10))
	run(0, "keys", "revoke", "jti:new", "--reason", "leaked", "--token-exp", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	run(0, "keys", "revoke", "jti:forever", "--reason", "leaked")

	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	k := etcdsync.NewLayout("/tokexp")
	resp, err := cli.Get(context.Background(), k.Revocation("jti:old"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("revocation of jti:old: %v", err)
	}
	var r etcdsync.Revocation
	if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil || !r.Expires.Equal(time.Unix(past, 0).Add(5*time.Minute)) {
		t.Errorf("jti:old expires %v (%v), want its exp plus 5m", r.Expires, err)
	}
	if out := run(0, "keys", "prune-revocations"); !strings.Contains(out, "pruned jti:old\n") || strings.Contains(out, "jti:new") || strings.Contains(out, "forever") || strings.Contains(out, "recent") {
		t.Errorf("prune-revocations = %q, want jti:old only (jti:recent lapsed within the grace)", out)
	}
	if resp, _ := cli.Get(context.Background(), k.RevocationsDir(), clientv3.WithPrefix(), clientv3.WithCountOnly()); resp == nil || resp.Count != 3 {
		t.Errorf("after the prune, want jti:recent, jti:new and jti:forever left")
	}
}
