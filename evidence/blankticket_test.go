package evidence

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestPackCountsNoInvisibleTicket: a key created with a ticket of spaces
// or invisible characters (a zero-width space) has no ticket anyone can
// read. The lifecycle log left it unflagged and the checklist counted it
// ticketed ("Is token creation approved and logged? Yes"), where the CLI
// refuses such a ticket under require_ticket
// (TestRequireTicketRefusesAnInvisibleTicket). It is now flagged "no
// ticket" and not counted.
func TestPackCountsNoInvisibleTicket(t *testing.T) {
	data, out, key := t.TempDir(), t.TempDir(), newKey(t)
	st, err := collector.OpenStore(data, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]string{"client": "acme-hris"})
	create := func(d int, target, ticket string) collector.Event {
		return collector.Event{Time: time.Date(2026, 5, d, 9, 0, 0, 0, time.UTC), Key: "/p/events/" + target, Revision: int64(d),
			Actor: "carol", Action: "key.create", Target: target, Ticket: ticket, Reason: "new integration", Details: raw}
	}
	if err := st.AppendEvents([]collector.Event{create(3, "acmehris7", "\u200b"), create(4, "acmehris8", " \u2060")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SignHead(time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	res := packMay(t, data, out, key)
	rows := readCSV(t, filepath.Join(res.Dir, "APIAuth-TokenLifecycleLog-2026-05.csv"))
	for _, r := range rows[1:] {
		if r[1] == "key.create" && r[8] != "no ticket" {
			t.Errorf("key.create of %s with ticket %q flagged %q, want \"no ticket\"", r[2], r[4], r[8])
		}
	}
	md, err := os.ReadFile(filepath.Join(res.Dir, "APIGovernance-ISO27017Checklist-2026-05.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(md), "\n") {
		if strings.HasPrefix(line, "| Is token creation approved and logged?") &&
			(!strings.Contains(line, "| No |") || !strings.Contains(line, "2 for other clients, 0 of them with a ticket")) {
			t.Errorf("checklist: %q; want No, 2 key creations, 0 with a ticket", line)
		}
	}
}
