package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdsync"
)

// keys list and keys show print a key record's created_by and ticket and
// its revocation's actor, reason and ticket, texts etcd holds as their
// writer put them: an operator's role writes keys/, the collector's
// certificate revocations/ (a detection rule's revoke_key). Before, they
// were printed as etcd held them, and escape sequences or a newline in
// them cleared the operator's terminal and printed lines of their own
// (req802). They are now cells, as members list prints its records.
func TestKeysListAndShowPrintEtcdTextPlain(t *testing.T) {
	t.Parallel()
	e := startEtcd(t)
	const prefix = "/keys-text"
	r := etcdRunner{t: t, common: []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", prefix}}
	run := func(args ...string) string { t.Helper(); return r.run(0, args...) }
	run("policy", "push", examplePolicy, "--reason", "first")
	var created struct {
		Record map[string]any `json:"record"`
	}
	json.Unmarshal([]byte(run("keys", "create", "--client", "globex-bi", "--ttl", "720h", "--json")), &created)
	id, _ := created.Record["id"].(string)
	if id == "" {
		t.Fatal("keys create named no key")
	}
	cli, err := etcdsync.Dial(etcdsync.Config{Endpoints: e.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	const forged = "alice\x1b[2J\x1b[H\nforged-1  globex-bi  valid\x1b[8m"
	rec := created.Record
	rec["created_by"], rec["ticket"] = forged, forged
	b, _ := json.Marshal(rec)
	if _, err := cli.Put(context.Background(), prefix+"/keys/"+id, string(b)); err != nil {
		t.Fatal(err)
	}
	rv, _ := json.Marshal(etcdsync.Revocation{ID: id, Actor: forged, Reason: forged, Ticket: forged})
	if _, err := cli.Put(context.Background(), prefix+"/revocations/"+id, string(rv)); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"keys", "list"}, {"keys", "show", id}} {
		out := run(args...)
		if strings.ContainsAny(out, "\x1b") || strings.Contains(out, "\nforged-1") {
			t.Errorf("%s printed etcd's text as it was:\n%q", strings.Join(args, " "), out)
		}
		if !strings.Contains(out, id) || !strings.Contains(out, "alice") {
			t.Errorf("%s does not show the record:\n%q", strings.Join(args, " "), out)
		}
	}
}
