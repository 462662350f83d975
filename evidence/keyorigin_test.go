package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// The token creation question counted key creations and the rotations
// of privileged clients' keys: a rotation of any other client's key, a
// new credential as much as a creation of one, was counted nowhere, so
// one without its ticket answered Yes; and a key that authenticated in
// the period with no key.create or key.rotate event in the whole trail,
// nor in any policy document of the history (put into etcd by hand, or
// made before the trail began), was named nowhere. Both are now counted
// and named, and answer No: acmehris2's rotation to acmehris8 shows no
// ticket, and handmade9 authenticated requests with no event making it.
// A key id no key matched (unauthenticated: the caller's guess) is not
// named.
func TestTokenCreationCountsOrdinaryRotationsAndNamesKeysNeverMade(t *testing.T) {
	t.Parallel()
	ev := mayEvent
	noTicket := ev(22, 3, 13, "key.rotate", "acmehris2", "carol", map[string]string{"client": "acme-hris", "new_key": "acmehris8"})
	noTicket.Ticket = ""
	at := time.Date(2026, 5, 10, 9, 0, 0, 0, time.UTC)
	rec := func(key, client, decision string, status int64) collector.StoredRecord {
		return collector.StoredRecord{Time: at, Tenant: "acme", Client: client, KeyID: key, AuthMethod: "api_key", Method: "GET", Route: "/v1/users", Status: status, Decision: decision}
	}
	res, p := packMayRecords(t, []collector.StoredRecord{
		rec("acmehris1", "acme-hris", "allowed", 200), // the policy document's
		rec("acmehris5", "acme-hris", "allowed", 200), // its key.create below
		rec("acmehris7", "acme-hris", "allowed", 200), // a rotation's successor below
		rec("handmade9", "acme-hris", "allowed", 200),
		rec("guess1", "", "unauthenticated", 401),
	},
		ev(20, 3, 11, "key.create", "acmehris5", "carol", map[string]string{"client": "acme-hris"}),
		ev(21, 3, 12, "key.rotate", "acmehris1", "carol", map[string]string{"client": "acme-hris", "new_key": "acmehris7"}),
		noTicket,
	)
	const q = "Is token creation approved and logged?"
	if a := checklistAnswers(t, res, p)[q]; a != "No" {
		t.Errorf("%q answered %q; want No", q, a)
	}
	md, err := os.ReadFile(filepath.Join(res.Dir, FileName("APIGovernance", "ISO27017Checklist", p.Name, "md")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"2 rotations of other clients' keys, 1 of them with a ticket",
		`the rotation of "acmehris2" to "acmehris8"`,
		`1 keys that authenticated requests in the period or have a key record in etcd have no key.create or key.rotate event in the trail nor a policy document: "handmade9" (authenticated requests)`,
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("checklist lacks %q:\n%s", want, md)
		}
	}
	for _, bad := range []string{"guess1", `"acmehris5" (`, `"acmehris7" (`} {
		if strings.Contains(string(md), bad) {
			t.Errorf("checklist names %q, a key made by an event, in the document, or never matched", bad)
		}
	}
}
