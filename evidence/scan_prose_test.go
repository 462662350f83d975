package evidence

import (
	"testing"

	"github.com/portcullis/portcullis/collector"
)

// A secret an operator wrote in prose or as a pair in a change's reason,
// ticket or actor ("password hunter2", "api_key=abc123") has no
// credential's shape. The CLI clears such text before etcd now
// (collector.RedactText), but an event a CLI from before that wrote, or
// another writer of etcd, keeps it in the trail, and the pack copies it
// into the token lifecycle log: the scan, by shapes only, said PASS.
// Text the CLI's rules leave as it is, already cleared or prose that only
// speaks of a credential, is no hit.
func TestCredentialScanFindsASecretInAnEventsProse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		reason, ticket, actor string
		hits                  int
	}{
		{"leaked: the password hunter2 was in the chat", "INC-7", "alice", 1},
		{"rotated out", "api_key=abc123", "alice", 1},
		{"rotated out", "INC-7", "password: correct horse", 1},
		{"leaked: the password " + collector.Redacted + " was in the chat", "INC-7", "alice", 0},
		{"password rotated after the incident", "CHG-2", "alice", 0},
	} {
		b := &builder{events: []collector.Event{{Action: "key.rotate", Target: "acmeadm1", Actor: c.actor, Reason: c.reason, Ticket: c.ticket}}, tally: &tally{}}
		b.tally.addEvent(b, 0, entryPos{})
		if b.tally.eventHits != c.hits {
			t.Errorf("event of reason %q, ticket %q, actor %q: %d scan hits, want %d", c.reason, c.ticket, c.actor, b.tally.eventHits, c.hits)
		}
	}
}
