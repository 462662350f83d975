package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestApprovalsShowPrintsTextOnly: approvals show and list are what the
// second person reads before granting, and they printed the requester's
// name, reason and ticket as written: an escape sequence in the reason
// (cursor up, erase line) rewrote the client line the approver checks,
// and a newline added rows of its own ("client: acme-hris" under the
// real one). Every field is now one line of printable text.
func TestApprovalsShowPrintsTextOnly(t *testing.T) {
	t.Parallel()
	e, admin := etcdAdmin(t, "/approvals-text")
	ctx := context.Background()
	doc, _ := os.ReadFile(examplePolicy)
	if _, err := admin.PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	const hostile = "weekly export\x1b[3A\x1b[2K\rclient:     acme-hris\nroute:      GET /v1/status\u202e"
	ap, err := admin.RequestApproval(ctx, etcdadmin.ApprovalRequest{Client: "acme-admin", Route: "POST /v1/exports/full"},
		etcdadmin.Meta{Actor: "alice\x1b[2K", Reason: hostile, Ticket: "CHG-1\r\nstate: granted"})
	if err != nil {
		t.Fatal(err)
	}
	common := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/approvals-text"}
	for _, cmd := range [][]string{{"approvals show", ap.ID}, {"approvals list"}} {
		var out, errOut bytes.Buffer
		if code := etcdSub(t, cmd[0]).main(append(cmd[1:], common...), &out, &errOut); code != 0 {
			t.Fatalf("%s = %d: %s", cmd[0], code, &errOut)
		}
		got := out.String()
		if strings.ContainsAny(got, "\x1b\r\u202e") {
			t.Errorf("%s prints control characters: %q", cmd[0], got)
		}
		for _, l := range strings.Split(got, "\n") {
			if strings.HasPrefix(l, "client:") && !strings.Contains(l, "acme-admin") || strings.HasPrefix(l, "route:") && !strings.Contains(l, "/v1/exports/full") ||
				strings.HasPrefix(l, "state: granted") {
				t.Errorf("%s: a line forged by the request's text: %q\n%s", cmd[0], l, got)
			}
		}
	}
}
