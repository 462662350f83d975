package evidence

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
)

// TestAlertSampleNamesFoldedGroups: a folded alert (alert package,
// fold.go) is one alert and one ticket for many sources; its key is "*".
// The alert sample says how many groups it folds and names the first, so
// that an auditor reads a guesser on many addresses, not a source "*".
func TestAlertSampleNamesFoldedGroups(t *testing.T) {
	cfg, _, _ := packFolder(t)
	st, err := collector.OpenStore(cfg.DataDir, collector.StoreConfig{SigningKey: cfg.SigningKey})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 6, 9, 0, 0, 0, time.UTC)
	open, _ := json.Marshal(map[string]string{"rule": "token-guessing-source", "kind": "auth_failures", "severity": "high", "group": "source",
		"key": "*", "count": "31", "first_seen": at.Format(time.RFC3339Nano), "folded": "1", "folded_keys": `["192.0.2.9"]`})
	update, _ := json.Marshal(map[string]string{"count": "93", "last_seen": at.Add(time.Second).Format(time.RFC3339Nano), "folded": "3",
		"folded_keys": `["192.0.2.9","192.0.2.10","192.0.2.11"]`, "fold_rule": "token-guessing-source", "fold_key": "192.0.2.11"})
	ticket, _ := json.Marshal(map[string]string{"sink": "jira", "ticket": "SEC-9"})
	if err := st.AppendEvents([]collector.Event{ // the engine's own events: no etcd key
		{Time: at, Actor: "portcullis-collector", Action: "alert.open", Target: "A-9", Details: open},
		{Time: at.Add(time.Second), Actor: "portcullis-collector", Action: "alert.update", Target: "A-9", Details: update},
		{Time: at.Add(time.Minute), Actor: "portcullis-collector", Action: "alert.ticket", Target: "A-9", Details: ticket},
	}); err != nil {
		t.Fatal(err)
	}
	md := closeAndPack(t, st, cfg, "APIAbuse", "AlertToTicketSample")
	if !strings.Contains(md, "## Alert A-9") || !strings.Contains(md, "- folded: 3 source groups, the first: 192.0.2.9, 192.0.2.10, 192.0.2.11\n") {
		t.Errorf("the alert sample of a folded alert does not say what it folds:\n%s", md)
	}
}
