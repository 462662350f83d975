package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// TestIncidentContainRefusesAClientNotInThePolicy: incident contain
// --revoke-keys of a client the policy does not hold (a typo, or a
// prefix of a real client id such as globex for globex-bi) is refused,
// naming the client, and records no alert.contain. Before, it found no
// key of that exact name, revoked nothing, printed nothing, exited 0 and
// recorded the alert as contained, while globex-bi's keys stayed live.
func TestIncidentContainRefusesAClientNotInThePolicy(t *testing.T) {
	t.Parallel()
	e, admin := etcdAdmin(t, "/incident-unknown")
	ctx := context.Background()
	doc, _ := os.ReadFile(examplePolicy)
	if _, err := admin.PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	common := []string{"--etcd", strings.Join(e.Endpoints(), ","), "--prefix", "/incident-unknown", "--actor", "bob", "--ticket", "INC-7"}
	for _, client := range []string{"globex", "globex-bi ", "GLOBEX-BI"} {
		var out, errOut bytes.Buffer
		code := etcdSub(t, "incident contain").main(append([]string{"--client", client, "--revoke-keys", "--alert", "alert-y"}, common...), &out, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), `client "`+client+`" is not in the policy`) {
			t.Errorf("incident contain --client %q --revoke-keys = %d, %q%q; want refused naming the client", client, code, &out, &errOut)
		}
	}
	evs, err := admin.ListEvents(ctx, time.Time{}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Action == "alert.contain" || ev.Action == "key.revoke" {
			t.Errorf("event %s %s recorded for a client not in the policy", ev.Action, ev.Target)
		}
	}
	if k, err := admin.ShowKey(ctx, "globexbi1"); err != nil || k.IsRevoked() {
		t.Errorf("key globexbi1 = %+v, %v; want live", k, err)
	}
}
