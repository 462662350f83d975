package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// keys revoke takes an id, which is written to etcd (the revocation's
// path and record, its event's target) and named in errors. An operator
// who pastes the whole key, or the whole token after jti:, gave the
// secret to etcd and the trail (jti:<token> was revoked as such), or to
// the terminal's error line. The id that reads as a credential is refused
// without being echoed, and nothing is written.
func TestKeysRevokeRefusesAPastedCredentialAsID(t *testing.T) {
	t.Parallel()
	const prefix = "/revoke-pasted"
	e, admin := etcdAdmin(t, prefix)
	ctx := context.Background()
	if _, err := admin.PushPolicy(ctx, mustRead(t, examplePolicy), 0, etcdadmin.Meta{Actor: "alice", Reason: "setup", Ticket: "T-1"}); err != nil {
		t.Fatal(err)
	}
	const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhY21lLWFkbWluIn0.c2lnbmF0dXJlc2lnbmF0dXJl"
	secret := acmeAdminKey[strings.LastIndexByte(acmeAdminKey, '_')+1:]
	for _, args := range [][]string{{acmeAdminKey}, {acmeAdminKey, "--held"}, {"jti:" + token}} {
		var out, errOut bytes.Buffer
		args = append(args, "--reason", "leaked", "--ticket", "INC-7", "--actor", "alice", "--etcd", e.Endpoints()[0], "--prefix", prefix)
		code := etcdSub(t, "keys revoke").main(args, &out, &errOut)
		printed := out.String() + errOut.String()
		if code == 0 {
			t.Errorf("keys revoke %.20s... = exit 0; want it refused", args[0])
		}
		for _, s := range []string{secret, token} {
			if strings.Contains(printed, s) {
				t.Errorf("keys revoke %.20s... printed the credential: %s", args[0], printed)
			}
		}
	}
	resp, err := dialEtcdForTest(t, e.Endpoints()[0]).Get(ctx, prefix+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		for _, s := range []string{secret, token} {
			if strings.Contains(string(kv.Key)+string(kv.Value), s) {
				t.Errorf("%s holds a pasted credential (%.12s...)", kv.Key, s)
			}
		}
	}
}
