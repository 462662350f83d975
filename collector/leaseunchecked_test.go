package collector

import (
	"bytes"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/policy/etcdadmin"
	"github.com/rs/zerolog"
)

// A delete stored flagged etcdadmin.FlagLeaseUnchecked (etcd did not
// answer whether its lease held) gets a warn line naming its action, key
// and revision, and no other event does: the flag alone sat in the trail
// until a pack was built.
func TestUncheckedLeaseWarns(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	evs := []Event{
		{Action: etcdadmin.ActionSuspensionDeleted, Key: "/p/suspensions/acme", Revision: 7, Unverified: etcdadmin.FlagLeaseUnchecked + ": suspension deleted"},
		{Action: etcdadmin.ActionSuspensionDeleted, Key: "/p/suspensions/other", Revision: 8, Unverified: "deleted by hand"},
	}
	uncheckedLease(evs, zerolog.New(&buf))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"level":"warn"`) || !strings.Contains(lines[0], `"key":"/p/suspensions/acme"`) || !strings.Contains(lines[0], `"revision":7`) {
		t.Errorf("log = %q, want one warn line for /p/suspensions/acme at revision 7", buf.String())
	}
}
