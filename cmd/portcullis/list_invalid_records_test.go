package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// A member, approval or key record in etcd that is not one (written by
// hand, by another version, damaged): members list left a member record
// that does not decode out without a word, so a sidecar vanished from
// the fleet view with exit 0; approvals list left out an approval that
// does not decode and printed one holding null or {} as a row of empty
// fields, no id, exit 0; keys list left out a key record that does not
// decode, and keys show said there was no such key. The lists now print
// the records that are valid and fail, exit 1, naming each record left
// out and why, in JSON too, and keys show says why the record is none.
func TestListsNameInvalidRecords(t *testing.T) {
	t.Parallel()
	const prefix = "/list-invalid"
	e, cli := etcdClient(t)
	admin := etcdadmin.New(cli, prefix)
	ctx := context.Background()
	doc, _ := os.ReadFile(examplePolicy)
	if _, err := admin.PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	ap, err := admin.RequestApproval(ctx, etcdadmin.ApprovalRequest{Client: "acme-admin", Route: "POST /v1/exports/full"},
		etcdadmin.Meta{Actor: "alice", Reason: "weekly export"})
	if err != nil {
		t.Fatal(err)
	}
	for key, value := range map[string]string{
		"/members/good-pod": `{"pod":"good-pod","revision":1}`, "/members/bad-pod": "garbage",
		"/approvals/nullrec": "null", "/approvals/emptyrec": "{}", "/approvals/junkrec": "garbage",
		"/keys/badkey1": "garbage",
	} {
		if _, err := cli.Put(ctx, prefix+key, value); err != nil {
			t.Fatal(err)
		}
	}
	common := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", prefix}
	for _, c := range []struct {
		cmd        string
		valid      string
		invalid    []string
		notInTable string
	}{
		{"members list", "good-pod", []string{prefix + "/members/bad-pod"}, ""},
		{"approvals list", ap.ID, []string{prefix + "/approvals/nullrec", prefix + "/approvals/emptyrec", prefix + "/approvals/junkrec"}, "0/0"},
		{"keys list", "acmehris1", []string{`key record "badkey1" is invalid`}, ""},
	} {
		for _, json := range []bool{false, true} {
			args := common
			if json {
				args = append([]string{"--json"}, common...)
			}
			var out, errOut bytes.Buffer
			code := etcdSub(t, c.cmd).main(args, &out, &errOut)
			if code != 1 || !strings.Contains(out.String(), c.valid) {
				t.Errorf("%s (json %v) = exit %d, stdout %q; want exit 1 with the valid record %s listed", c.cmd, json, code, out.String(), c.valid)
			}
			for _, key := range c.invalid {
				if !strings.Contains(errOut.String(), key) {
					t.Errorf("%s (json %v): stderr %q does not name the invalid record %s", c.cmd, json, errOut.String(), key)
				}
			}
			if c.notInTable != "" && !json && strings.Contains(out.String(), c.notInTable) {
				t.Errorf("%s prints an invalid record as a row: %q", c.cmd, out.String())
			}
		}
	}
}

func TestKeysShowNamesAnInvalidRecord(t *testing.T) {
	t.Parallel()
	const prefix = "/show-invalid-key"
	e, cli := etcdClient(t)
	admin := etcdadmin.New(cli, prefix)
	ctx := context.Background()
	doc, _ := os.ReadFile(examplePolicy)
	if _, err := admin.PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, prefix+"/keys/badkey1", "garbage"); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := etcdSub(t, "keys show").main([]string{"badkey1", "--etcd", strings.Join(e.Endpoints(), ","), "--prefix", prefix}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), `key record "badkey1" is invalid`) {
		t.Errorf("keys show of an invalid record = exit %d, stderr %q; want exit 1 saying the record is invalid", code, errOut.String())
	}
}
